package settings

import (
	"testing"

	"github.com/matryer/is"
)

func TestLoadApp(t *testing.T) {
	is := is.New(t)
	for _, name := range []string{"RABIBRIDGE_SERIALISER", "RABIBRIDGE_COMPRESS_THRESHOLD", "RABIBRIDGE_LOG_LEVEL", "RABIBRIDGE_CID_MAX"} {
		t.Setenv(name, "")
	}
	const file = "../../bridge/testdata/env.toml" // RabiBridge's env.toml, unchanged
	a, err := LoadApp(file)
	is.NoErr(err)
	is.Equal(a, App{Serialiser: "json", CompressThreshold: 2048, LogLevel: "DEBUG", CIDMax: 1000000})

	t.Setenv("RABIBRIDGE_SERIALISER", "msgpack")
	a, err = LoadApp(file)
	is.NoErr(err)
	is.Equal(a.Serialiser, "msgpack") // the environment over the file
	is.Equal(a.LogLevel, "DEBUG")     // the file where the environment is silent

	t.Setenv("RABIBRIDGE_CID_MAX", "lots")
	_, err = LoadApp("")
	is.True(err != nil) // not a whole number

	_, err = LoadApp("testdata-missing.toml")
	is.True(err != nil)
}
