#include <cblas.h>
/* OpenBLAS thread control (declared in cblas.h of OpenBLAS, repeated for other providers). */
void openblas_set_num_threads(int num_threads);
int openblas_get_num_threads(void);
