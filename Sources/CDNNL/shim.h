// oneDNN (Debian libdnnl-dev) and the OpenMP runtime it runs on. CMixLNGemm is the only code that
// calls it; this module exists for its link directives (`dnnl`, `gomp`) and for SwiftPM's provider hint.
#include <oneapi/dnnl/dnnl.h>
