/* The generated model code of the fixture (test/fixtures/gen_small/, see its
 * README.md), compiled into this suite only. Test builds leave the project's
 * generated/ folder out (firmware/platforms/mtbuild.py), so nothing clashes. */
#include "../fixtures/gen_small/mt_model.c"
