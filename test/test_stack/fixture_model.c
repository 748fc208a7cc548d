/* The generated model code of the fixture (test/fixtures/gen_small/), compiled into this
 * suite only, as in test_kernels (test builds leave the project's generated/ folder out). */
#include "../fixtures/gen_small/mt_model.c"
