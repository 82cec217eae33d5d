// The MPI library (Open MPI's `ompi-c` or MPICH's `mpich` pkg-config package), found and linked
// through pkg-config. Swift never imports it directly: `CMixLNMPI` wraps what the trainer needs.
#include <mpi.h>
