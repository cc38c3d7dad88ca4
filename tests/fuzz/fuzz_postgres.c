// SPDX-License-Identifier: Apache-2.0
/* libFuzzer target for the postgres decoder (src/decode/postgres.c) and the SQL
 * helpers it uses: the shared body is tests/fuzz/fuzz_db.h. */
#define FUZZ_DECODER postgres_decoder
#define FUZZ_PROTO SONDE_PROTO_POSTGRES
#include "fuzz_db.h"
