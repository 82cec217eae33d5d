#!/usr/bin/env python3
"""Hugging Face `tokenizers` side of the `mixln prepare` throughput comparison (issue 3).

Reads the corpus the way `mixln prepare` does (text files split into documents at blank lines,
JSONL / .json.gz records' "text"), then times `Tokenizer.encode_batch` over all documents on
--threads cores (RAYON_NUM_THREADS) and prints MB/s of document text (UTF-8), median of --repeat.

    python3 scripts/bench_prepare.py --data data/shakespeare --tokenizer byte --threads 2 --json
    python3 scripts/bench_prepare.py --data data/shakespeare --tokenizer tokenizer.json

`--tokenizer byte` builds a tokenizer.json that gives exactly MixLN's byte ids (a BPE whose
vocabulary is the 256 byte-level characters at their byte values, no merges, byte-level
pre-tokenizer without the regex split) and checks that on the corpus's first documents.
"""
import argparse
import gzip
import json
import os
import re
import statistics
import sys
import time


def documents(path):
    files = []
    if os.path.isdir(path):
        for root, _, names in os.walk(path):
            for name in names:
                lower = name.lower()
                if lower.endswith((".txt", ".jsonl", ".jsonl.gz", ".json.gz")):
                    files.append(os.path.join(root, name))
        files.sort(key=lambda f: os.path.relpath(f, path))
    else:
        files = [path]
    blank = re.compile(r"^\s*$")
    for f in files:
        lower = f.lower()
        if lower.endswith((".jsonl", ".json", ".jsonl.gz", ".json.gz")):
            opener = gzip.open if lower.endswith(".gz") else open
            with opener(f, "rt", encoding="utf-8") as lines:
                for line in lines:
                    if line.strip():
                        text = json.loads(line).get("text")
                        if text:
                            yield text
        else:
            text = open(f, encoding="utf-8", errors="replace", newline="").read().lstrip("\ufeff")
            paragraph = []
            for line in re.split(r"\r\n|\n|\r|\u2028|\u2029|\x0b|\x0c|\x85", text):
                if blank.match(line):
                    if paragraph:
                        yield "\n".join(paragraph)
                        paragraph = []
                else:
                    paragraph.append(line)
            if paragraph:
                yield "\n".join(paragraph)


def byte_tokenizer():
    from tokenizers import Tokenizer
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    vocab = {chr(c): b for b, c in zip(bs, cs)}
    spec = {
        "version": "1.0", "truncation": None, "padding": None, "added_tokens": [], "normalizer": None,
        "pre_tokenizer": {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": False},
        "post_processor": None,
        "decoder": {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": False},
        "model": {"type": "BPE", "dropout": None, "unk_token": None, "continuing_subword_prefix": None,
                  "end_of_word_suffix": None, "fuse_unk": False, "byte_fallback": False, "vocab": vocab, "merges": []},
    }
    return Tokenizer.from_str(json.dumps(spec))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--data", required=True)
    parser.add_argument("--tokenizer", default="byte")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    os.environ["RAYON_NUM_THREADS"] = str(args.threads)  # before the library starts its pool
    from tokenizers import Tokenizer

    docs = list(documents(args.data))
    text_bytes = sum(len(d.encode("utf-8")) for d in docs)
    tok = byte_tokenizer() if args.tokenizer == "byte" else Tokenizer.from_file(args.tokenizer)
    if args.tokenizer == "byte":
        for d in docs[:200]:
            assert tok.encode(d).ids == list(d.encode("utf-8")), "byte tokenizer.json does not give byte ids"
    times = []
    tokens = 0
    for _ in range(args.repeat):
        start = time.perf_counter()
        encodings = tok.encode_batch(docs, add_special_tokens=False)
        times.append(time.perf_counter() - start)
        tokens = sum(len(e.ids) for e in encodings)
        del encodings
    seconds = statistics.median(times)
    result = {"library": "tokenizers", "tokenizer": args.tokenizer, "threads": args.threads, "documents": len(docs),
              "text_bytes": text_bytes, "tokens": tokens, "seconds": seconds, "text_mb_per_second": text_bytes / 1e6 / seconds}
    if args.json:
        print(json.dumps(result))
    else:
        print(f"HF tokenizers ({args.tokenizer}, {args.threads} threads): {len(docs)} documents, "
              f"{text_bytes / 1e6:.1f} MB, {tokens} tokens in {seconds:.3f} s = {result['text_mb_per_second']:.1f} MB/s")


if __name__ == "__main__":
    main()
