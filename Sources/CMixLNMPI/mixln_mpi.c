#include "mixln_mpi.h"

#include <mpi.h>
#include <string.h>

int mixln_mpi_init(int *rank, int *size, int *local_size) {
    int provided = 0;
    int status = MPI_Init_thread(NULL, NULL, MPI_THREAD_FUNNELED, &provided);
    if (status != MPI_SUCCESS) return status;
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
    if ((status = MPI_Comm_rank(MPI_COMM_WORLD, rank)) != MPI_SUCCESS) return status;
    if ((status = MPI_Comm_size(MPI_COMM_WORLD, size)) != MPI_SUCCESS) return status;
    MPI_Comm node;
    if ((status = MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, *rank, MPI_INFO_NULL, &node)) != MPI_SUCCESS) {
        return status;
    }
    status = MPI_Comm_size(node, local_size);
    MPI_Comm_free(&node);
    return status;
}

int mixln_mpi_finalize(void) { return MPI_Finalize(); }

int mixln_mpi_sum_floats(float *values, int count) {
    return MPI_Allreduce(MPI_IN_PLACE, values, count, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
}

int mixln_mpi_sum_doubles(double *values, int count) {
    return MPI_Allreduce(MPI_IN_PLACE, values, count, MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD);
}

int mixln_mpi_max_int(int *value) {
    return MPI_Allreduce(MPI_IN_PLACE, value, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
}

int mixln_mpi_gather_u64(uint64_t value, uint64_t *all) {
    return MPI_Allgather(&value, 1, MPI_UINT64_T, all, 1, MPI_UINT64_T, MPI_COMM_WORLD);
}

void mixln_mpi_abort(int code) { MPI_Abort(MPI_COMM_WORLD, code); }

void mixln_mpi_error_string(int code, char *buffer, int length) {
    char text[MPI_MAX_ERROR_STRING];
    int written = 0;
    if (length <= 0) return;
    if (MPI_Error_string(code, text, &written) != MPI_SUCCESS) written = 0;
    text[written < MPI_MAX_ERROR_STRING ? written : MPI_MAX_ERROR_STRING - 1] = '\0';
    strncpy(buffer, text, (size_t)length - 1);
    buffer[length - 1] = '\0';
}

void mixln_mpi_library_version(char *buffer, int length) {
    char text[MPI_MAX_LIBRARY_VERSION_STRING];
    int written = 0;
    if (length <= 0) return;
    if (MPI_Get_library_version(text, &written) != MPI_SUCCESS) written = 0;
    text[written < MPI_MAX_LIBRARY_VERSION_STRING ? written : MPI_MAX_LIBRARY_VERSION_STRING - 1] = '\0';
    char *newline = strchr(text, '\n');
    if (newline) *newline = '\0';
    strncpy(buffer, text, (size_t)length - 1);
    buffer[length - 1] = '\0';
}
