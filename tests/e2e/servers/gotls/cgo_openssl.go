//go:build sonde_cgo

// Built only with -tags sonde_cgo (and cgo on): the same program, linked
// against the system's libssl as a cgo program may be, so that the process
// maps libssl while its HTTPS goes through Go's crypto/tls. Sonde must
// follow both: OpenSSL's uprobes on the library, Go's on the executable.
package main

// #cgo LDFLAGS: -lssl -lcrypto
// #include <openssl/ssl.h>
// #include <openssl/crypto.h>
import "C"

import "fmt"

func init() {
	C.OPENSSL_init_ssl(0, nil)
	if C.OpenSSL_version_num() == 0 {
		fmt.Println("no OpenSSL")
	}
}
