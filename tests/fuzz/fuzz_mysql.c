// SPDX-License-Identifier: Apache-2.0
/* libFuzzer target for the mysql decoder (src/decode/mysql.c) and the SQL
 * helpers it uses: the shared body is tests/fuzz/fuzz_db.h. */
#define FUZZ_DECODER mysql_decoder
#define FUZZ_PROTO SONDE_PROTO_MYSQL
#include "fuzz_db.h"
