package secret

import (
	"errors"
	"strings"
	"testing"

	"github.com/matryer/is"
)

func TestPasswordFormats(t *testing.T) {
	is := is.New(t)
	enc, err := Encrypt("k", "p@ss wörd")
	is.NoErr(err)
	is.True(strings.HasPrefix(enc, "rbenc1:"))
	enc2, _ := Encrypt("k", "p@ss wörd")
	is.True(enc != enc2) // a random salt and nonce each time
	pw, err := Decrypt("k", enc)
	is.NoErr(err)
	is.Equal(pw, "p@ss wörd")
	_, err = Decrypt("other", enc)
	is.True(errors.Is(err, errDecrypt))
	tampered := enc[:len(enc)-4] + "AAA="
	_, err = Decrypt("k", tampered)
	is.True(errors.Is(err, errDecrypt)) // GCM authenticates
	_, err = Decrypt("", enc)
	is.True(err != nil)

	legacy := encryptLegacy("s3cr3t-k3y", "guest pässword")
	is.Equal(legacy, "WR+L+AzrT1b1MikidM4CdwXrsGsYYZG745GHiZhayLE=") // matches the independent vector
}
