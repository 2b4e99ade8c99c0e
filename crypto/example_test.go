package crypto_test

import (
	"fmt"

	"github.com/immich-vault/immich-vault/crypto"
)

func ExampleSeal() {
	k, err := crypto.NewRandomKey()
	if err != nil {
		panic(err)
	}
	plaintext := []byte("chunk bytes")
	id := k.BlobID(plaintext)
	sealed := crypto.Seal(k.AEAD(), nil, plaintext, id[:]) // the ID as associated data
	fmt.Println(len(sealed) == len(plaintext)+crypto.Overhead)

	opened, err := crypto.Open(k.AEAD(), nil, sealed, id[:])
	fmt.Println(string(opened), err)

	other := crypto.Hash([]byte("another blob"))
	_, err = crypto.Open(k.AEAD(), nil, sealed, other[:])
	fmt.Println(err != nil)
	// Output:
	// true
	// chunk bytes <nil>
	// true
}
