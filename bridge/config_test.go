package bridge

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/matryer/is"

	"github.com/rabibridge/rabibridge/internal/secret"
)

// envVars are the variables Dial reads, as Config's doc lists them.
var envVars = []string{
	"RABIBRIDGE_URL", "RABBITMQ_HOST", "RABBITMQ_PORT", "RABBITMQ_USERNAME", "RABBITMQ_PASSWORD",
	"RABBITMQ_VHOST", "RABIBRIDGE_SECRET", "RABIBRIDGE_TLS_CA_FILE", "RABIBRIDGE_TLS_CERT_FILE",
	"RABIBRIDGE_TLS_KEY_FILE", "RABIBRIDGE_TLS_SERVER_NAME",
}

// clearEnv unsets every variable Config reads, for the test.
func clearEnv(t *testing.T) {
	for _, name := range envVars {
		t.Setenv(name, "")
	}
}

// TestEnvDocumented: Config's doc lists every variable Dial reads, and
// each one listed is read.
func TestEnvDocumented(t *testing.T) {
	src, err := os.ReadFile("config.go")
	if err != nil {
		t.Fatal(err)
	}
	read := regexp.MustCompile(`settings\.(?:Str|Num)\(&c\.[A-Za-z.]+, "([A-Z_]+)"`).FindAllStringSubmatch(string(src), -1)
	if len(read) != len(envVars) {
		t.Errorf("config.go reads %d variables, the test knows %d", len(read), len(envVars))
	}
	for _, m := range read {
		if !regexp.MustCompile(`(?m)^//\t` + m[1] + ` `).Match(src) {
			t.Errorf("%s is read but not listed in Config's doc", m[1])
		}
		if !slices.Contains(envVars, m[1]) {
			t.Errorf("%s is read but not in envVars", m[1])
		}
	}
}

func TestLoadRabiBridgeFile(t *testing.T) {
	is := is.New(t)
	clearEnv(t)
	c, err := LoadConfig("testdata/env.toml")
	is.NoErr(err)
	is.Equal(c.Host, "broker.example")
	is.Equal(c.Port, 5673)
	u, err := c.brokerURL()
	is.NoErr(err)
	parsed, err := url.Parse(u)
	is.NoErr(err)
	is.Equal(parsed.Host, "broker.example:5673")
	is.Equal(parsed.User.Username(), "svc")
	pass, _ := parsed.User.Password()
	is.Equal(pass, "guest pässword")                // the legacy password, decrypted into the URL
	pw, err := secret.Decrypt(c.Secret, c.Password) // RabiBridge's legacy form
	is.NoErr(err)
	is.Equal(pw, "guest pässword")
}

func TestPrecedence(t *testing.T) {
	is := is.New(t)
	clearEnv(t)
	t.Setenv("RABBITMQ_PORT", "6000")
	c, err := LoadConfig("testdata/env.toml")
	is.NoErr(err)
	is.Equal(c.Port, 6000)             // the environment over the file
	is.Equal(c.Host, "broker.example") // the file where the environment is silent

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
	is.True(errors.Is(err, ErrSecret))
	is.True(!strings.Contains(err.Error(), c.Password)) // nothing of the password
}

func TestNothingSecretPrinted(t *testing.T) {
	is := is.New(t)
	c := Config{URL: "amqp://u:topsecret1@h/", Password: "topsecret2", Secret: "topsecret3", Host: "h"}
	var buf bytes.Buffer
	slog.New(slog.NewTextHandler(&buf, nil)).Info("cfg", "config", c)
	for _, s := range []string{fmt.Sprint(c), fmt.Sprintf("%+v", c), fmt.Sprintf("%#v", c), buf.String(), fmt.Sprint(&c)} {
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
