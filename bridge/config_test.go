package bridge

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"testing"

	"github.com/matryer/is"
)

// clearEnv unsets every variable Config reads, for the test.
func clearEnv(t *testing.T) {
	for _, name := range Env {
		t.Setenv(name, "")
	}
}

func TestLoadRabiBridgeFile(t *testing.T) {
	is := is.New(t)
	clearEnv(t)
	c, err := LoadConfig("testdata/env.toml")
	is.NoErr(err)
	is.Equal(c.Host, "broker.example")
	is.Equal(c.Port, 5673)
	is.Equal(c.App, App{Serialiser: "json", CompressThreshold: 2048, LogLevel: "DEBUG", CIDMax: 1000000})
	u, err := c.brokerURL()
	is.NoErr(err)
	parsed, err := url.Parse(u)
	is.NoErr(err)
	is.Equal(parsed.Host, "broker.example:5673")
	is.Equal(parsed.User.Username(), "svc")
	pass, _ := parsed.User.Password()
	is.Equal(pass, "guest pässword")                 // the legacy password, decrypted into the URL
	pw, err := DecryptPassword(c.Secret, c.Password) // RabiBridge's legacy form
	is.NoErr(err)
	is.Equal(pw, "guest pässword")
}

func TestPrecedence(t *testing.T) {
	is := is.New(t)
	clearEnv(t)
	t.Setenv("RABBITMQ_PORT", "6000")
	t.Setenv("RABIBRIDGE_SERIALISER", "msgpack")
	c, err := LoadConfig("testdata/env.toml")
	is.NoErr(err)
	is.Equal(c.Port, 6000)                // the environment over the file
	is.Equal(c.App.Serialiser, "msgpack") // likewise
	is.Equal(c.Host, "broker.example")    // the file where the environment is silent

	c = Config{Host: "explicit", Port: 1}
	is.NoErr(c.overlayEnv(false))
	is.Equal(c.Port, 1) // the program over the environment
	t.Setenv("RABIBRIDGE_URL", "amqp://env/")
	c = Config{Host: "explicit"}
	is.NoErr(c.overlayEnv(false))
	is.Equal(c.URL, "") // an explicit host is not overridden by the environment's URL
	c = Config{}
	is.NoErr(c.overlayEnv(false))
	is.Equal(c.URL, "amqp://env/")

	t.Setenv("RABBITMQ_PORT", "many")
	_, err = LoadConfig("")
	is.True(err != nil)
	is.True(strings.Contains(err.Error(), "RABBITMQ_PORT"))
}

func TestConfigErrors(t *testing.T) {
	is := is.New(t)
	clearEnv(t)
	_, err := (&Config{}).brokerURL()
	is.True(strings.Contains(err.Error(), "RABIBRIDGE_URL")) // says what is missing
	_, err = LoadConfig("testdata/missing.toml")
	is.True(err != nil)
	c := Config{Host: "h", Username: "u", Password: "WR+L+AzrT1b1MikidM4CdwXrsGsYYZG745GHiZhayLE=", Secret: "wrong"}
	_, err = c.brokerURL()
	is.True(errors.Is(err, errDecrypt))
	is.True(!strings.Contains(err.Error(), c.Password)) // nothing of the password
}

func TestPasswordFormats(t *testing.T) {
	is := is.New(t)
	enc, err := EncryptPassword("k", "p@ss wörd")
	is.NoErr(err)
	is.True(strings.HasPrefix(enc, "rbenc1:"))
	enc2, _ := EncryptPassword("k", "p@ss wörd")
	is.True(enc != enc2) // a random salt and nonce each time
	pw, err := DecryptPassword("k", enc)
	is.NoErr(err)
	is.Equal(pw, "p@ss wörd")
	_, err = DecryptPassword("other", enc)
	is.True(errors.Is(err, errDecrypt))
	tampered := enc[:len(enc)-4] + "AAA="
	_, err = DecryptPassword("k", tampered)
	is.True(errors.Is(err, errDecrypt)) // GCM authenticates
	_, err = DecryptPassword("", enc)
	is.True(err != nil)

	legacy := encryptLegacy("s3cr3t-k3y", "guest pässword")
	is.Equal(legacy, "WR+L+AzrT1b1MikidM4CdwXrsGsYYZG745GHiZhayLE=") // matches the independent vector
}

func TestNothingSecretPrinted(t *testing.T) {
	is := is.New(t)
	c := Config{URL: "amqp://u:topsecret1@h/", Password: "topsecret2", Secret: "topsecret3", Host: "h"}
	var buf bytes.Buffer
	slog.New(slog.NewTextHandler(&buf, nil)).Info("cfg", "config", c)
	for _, s := range []string{fmt.Sprint(c), fmt.Sprintf("%+v", c), fmt.Sprintf("%#v", c), c.String(), buf.String(), fmt.Sprint(&c)} {
		is.True(!strings.Contains(s, "topsecret")) // no password or secret in any form
		is.True(strings.Contains(s, "h"))
	}
}

func TestTLSConfig(t *testing.T) {
	is := is.New(t)
	cfg, err := TLSConfig{}.config("amqp://h/")
	is.NoErr(err)
	is.True(cfg == nil) // not TLS
	cfg, err = TLSConfig{}.config("amqps://broker.example:5671/")
	is.NoErr(err)
	is.Equal(cfg.ServerName, "broker.example") // verified against the URL's host by default
	is.True(!cfg.InsecureSkipVerify)
	_, err = TLSConfig{CAFile: "testdata/env.toml"}.config("amqps://h/")
	is.True(err != nil) // not PEM
	c := Config{Host: "h", TLS: TLSConfig{ServerName: "x"}}
	u, err := c.brokerURL()
	is.NoErr(err)
	is.Equal(u, "amqps://guest:guest@h:5671/")
}

func TestSeveralURLs(t *testing.T) {
	is := is.New(t)
	clearEnv(t)
	c := Config{URL: "amqp://u:pw1@a:5672/, amqp://u:pw2@b:5672/", URLs: []string{"amqp://u:pw3@c:5672/"}}
	urls, err := c.brokerURLs()
	is.NoErr(err)
	is.Equal(urls, []string{"amqp://u:pw1@a:5672/", "amqp://u:pw2@b:5672/", "amqp://u:pw3@c:5672/"})
	for _, s := range []string{fmt.Sprint(c), fmt.Sprintf("%+v", c)} {
		is.True(!strings.Contains(s, "pw")) // no password of any node
	}
	is.Equal(c.URLs[0], "amqp://u:pw3@c:5672/") // printing did not change the Config
}
