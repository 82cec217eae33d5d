// The few MPI operations data-parallel training needs, as plain C functions on plain C types.
//
// MPI's handles (MPI_COMM_WORLD, MPI_FLOAT, MPI_SUM, MPI_IN_PLACE, ...) are macros that expand to
// casts of library symbols, which Swift cannot import; this shim keeps them on the C side. Every
// operation is on MPI_COMM_WORLD, whose error handler is set to return codes, so a failure comes
// back as a nonzero return value (0 = MPI_SUCCESS) with `mixln_mpi_error_string` for its text.
#ifndef MIXLN_MPI_H
#define MIXLN_MPI_H

#include <stddef.h>
#include <stdint.h>

/// MPI_Init_thread (MPI_THREAD_FUNNELED: only the calling thread talks to MPI), then the rank and
/// size of MPI_COMM_WORLD and the number of ranks on this machine.
int mixln_mpi_init(int *rank, int *size, int *local_size);
int mixln_mpi_finalize(void);
/// Sums `count` floats over all ranks in place (MPI_Allreduce with MPI_IN_PLACE); `count` ≤ INT_MAX.
int mixln_mpi_sum_floats(float *values, int count);
/// Sums `count` doubles over all ranks in place.
int mixln_mpi_sum_doubles(double *values, int count);
/// The largest `*value` over all ranks, in place.
int mixln_mpi_max_int(int *value);
/// Every rank's `value`, by rank, into `all` (room for `size` values).
int mixln_mpi_gather_u64(uint64_t value, uint64_t *all);
/// Ends every rank of the job with `code` (MPI_Abort).
void mixln_mpi_abort(int code);
/// The text of an MPI error code, into `buffer` (NUL-terminated).
void mixln_mpi_error_string(int code, char *buffer, int length);
/// The library's version line (MPI_Get_library_version), into `buffer`.
void mixln_mpi_library_version(char *buffer, int length);

#endif
