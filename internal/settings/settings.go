// Package settings reads RabiBridge's config file (env.toml) and the
// environment variables of its [app] section. bridge.LoadConfig takes the
// connection's sections from it; the CLI takes the [app] section, which
// the library leaves to each program (worker.Config, caller.Config).
package settings

import (
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/BurntSushi/toml"
)

// File is the TOML file: RabiBridge's env.toml keys, and ours.
type File struct {
	RabbitMQ struct {
		URL      string `toml:"URL"`
		Host     string `toml:"RABBITMQ_HOST"`
		Port     int    `toml:"RABBITMQ_PORT"`
		Username string `toml:"RABBITMQ_USERNAME"`
		Password string `toml:"RABBITMQ_PASSWORD"`
		VHost    string `toml:"RABBITMQ_VHOST"`
	} `toml:"rabbitmq"`
	App    App `toml:"app"`
	Secret struct {
		Secret string `toml:"SECRET"`
	} `toml:"secret"`
	TLS struct {
		CAFile     string `toml:"CA_FILE"`
		CertFile   string `toml:"CERT_FILE"`
		KeyFile    string `toml:"KEY_FILE"`
		ServerName string `toml:"SERVER_NAME"`
	} `toml:"tls"`
}

// App is RabiBridge's [app] section.
type App struct {
	// Serialiser names the codec: "msgpack" (default) or "json".
	Serialiser string `toml:"SERIALISER"`
	// CompressThreshold is the body size above which bodies are
	// compressed; zero means the default.
	CompressThreshold int `toml:"COMPRESS_THRESHOLD"`
	// LogLevel is DEBUG, INFO, WARNING or ERROR.
	LogLevel string `toml:"LOG_LEVEL"`
	// CIDMax bounds correlation ids; zero means the default.
	CIDMax int `toml:"CID_MAX"`
}

// Read reads the file at path; an empty path reads nothing.
func Read(path string) (File, error) {
	var f File
	if path == "" {
		return f, nil
	}
	if _, err := toml.DecodeFile(path, &f); err != nil {
		return File{}, fmt.Errorf("config file %s: %w", path, err)
	}
	return f, nil
}

// LoadApp reads the [app] section of the file at path (none when path is
// empty) with the environment laid over it: RABIBRIDGE_SERIALISER,
// RABIBRIDGE_COMPRESS_THRESHOLD, RABIBRIDGE_LOG_LEVEL, RABIBRIDGE_CID_MAX.
func LoadApp(path string) (App, error) {
	f, err := Read(path)
	if err != nil {
		return App{}, err
	}
	a := f.App
	var bad []string
	Str(&a.Serialiser, "RABIBRIDGE_SERIALISER", true)
	bad = Num(&a.CompressThreshold, "RABIBRIDGE_COMPRESS_THRESHOLD", true, bad)
	Str(&a.LogLevel, "RABIBRIDGE_LOG_LEVEL", true)
	bad = Num(&a.CIDMax, "RABIBRIDGE_CID_MAX", true, bad)
	if len(bad) > 0 {
		return App{}, fmt.Errorf("environment: %s must be a whole number", strings.Join(bad, ", "))
	}
	return a, nil
}

// Str sets *dst from the environment variable name, when that is set and
// not empty, and override is true or *dst is empty.
func Str(dst *string, name string, override bool) {
	if v, ok := os.LookupEnv(name); ok && v != "" && (override || *dst == "") {
		*dst = v
	}
}

// Num is Str for whole numbers; it returns bad with name appended when the
// variable is not one.
func Num(dst *int, name string, override bool, bad []string) []string {
	if v, ok := os.LookupEnv(name); ok && v != "" && (override || *dst == 0) {
		n, err := strconv.Atoi(v)
		if err != nil {
			return append(bad, name)
		}
		*dst = n
	}
	return bad
}
