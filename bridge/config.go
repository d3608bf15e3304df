package bridge

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/BurntSushi/toml"

	"github.com/rabibridge/rabibridge/internal/redact"
)

// Config configures a connection. Fields come, in order of precedence, from
// what the program sets, the environment (see Env), and a TOML file (see
// LoadConfig). Printing a Config (%v, %+v, %#v, slog) shows no password or
// secret.
type Config struct {
	// URL names the broker: mem://, mem://NAME, amqp://user:pass@host:port/vhost
	// or amqps://.... When empty, the broker is built from Host, Port,
	// Username, Password and VHost. Several RabbitMQ URLs may be given,
	// separated by commas, as with URLs.
	URL string
	// URLs name the nodes of a RabbitMQ cluster: connecting and reconnecting
	// try them in turn from a random one, so connections spread over the
	// nodes and move to a live one when theirs dies. URL, when set, comes
	// first.
	URLs []string
	// Host, Port, Username, Password and VHost name a RabbitMQ broker piece
	// by piece, as RabiBridge's [rabbitmq] section does. Port defaults to
	// 5672 (5671 with TLS), Username and Password to guest, VHost to "/".
	Host     string
	Port     int
	Username string
	Password string
	VHost    string
	// Secret decrypts an encrypted Password: our format (prefix "rbenc1:",
	// written by `rabibridge encrypt-password`) or, when Password has no
	// prefix and Secret is set, RabiBridge's legacy one.
	Secret string
	// TLS configures amqps:// connections.
	TLS TLSConfig
	// Name names the connection to the broker: the management UI shows it,
	// and `rabbitmqctl list_connections client_properties` as
	// connection_name. Empty means "rabibridge-go <host> <pid>".
	Name string
	// Heartbeat is the AMQP heartbeat interval; zero means 10s. A dead
	// peer is noticed after about two intervals; a write to the broker
	// that makes no progress for one interval (a stalled network path)
	// ends the connection, so that nothing waits on it longer.
	Heartbeat time.Duration
	// ReconnectMin and ReconnectMax bound the backoff between attempts to
	// reconnect after the connection is lost: it doubles from ReconnectMin
	// up to ReconnectMax, each wait jittered down by up to half. Zero means
	// DefaultReconnectMin and DefaultReconnectMax.
	ReconnectMin, ReconnectMax time.Duration
	// MaxMessageSize is the largest body the broker takes: its
	// max_message_size, which RabbitMQ does not tell its clients; zero
	// means DefaultMaxMessageSize (RabbitMQ's default). A caller refuses a
	// larger call with rabibridge.ErrTooLarge, and a worker answers
	// a call whose reply is larger with an error, instead of sending either
	// to a broker that would close the channel and fail the calls
	// beside it.
	MaxMessageSize int
	// OnStateChange, when set, is called on each change of the connection's
	// state, with the cause of a loss or of a failed attempt. It must not
	// block. Each change is also logged.
	OnStateChange func(State, error)
	// App holds RabiBridge's [app] settings: workers and callers made on
	// the connection use them where their own Config leaves them unset.
	App App
	// Logger receives the connection's log lines (workers and callers made
	// on the connection use it too, unless given their own); nil means
	// the lines at Warn and above, to the program's slog.Default().
	Logger *slog.Logger
}

// App holds the settings of RabiBridge's [app] section.
type App struct {
	// Serialiser names the codec: "msgpack" (default) or "json".
	Serialiser string
	// CompressThreshold is the body size above which bodies are compressed;
	// zero means 1024.
	CompressThreshold int
	// LogLevel is DEBUG, INFO, WARNING or ERROR (the CLI's log level).
	LogLevel string
	// CIDMax bounds correlation ids; zero means 2^30.
	CIDMax int
}

// TLSConfig configures TLS for amqps:// URLs. Server certificates are
// verified, against the system roots or CAFile, and the server name is the
// URL's host unless ServerName says otherwise.
type TLSConfig struct {
	// CAFile is a PEM file of the certificate authorities to trust.
	CAFile string
	// CertFile and KeyFile are the client's certificate and key (PEM), for
	// brokers that ask for one.
	CertFile, KeyFile string
	// ServerName overrides the name the server certificate must have.
	ServerName string
	// InsecureSkipVerify turns verification off. Never in production.
	InsecureSkipVerify bool
}

// Env lists the environment variables Config reads, each for the field or
// TOML key of the same meaning.
var Env = []string{
	"RABIBRIDGE_URL", "RABBITMQ_HOST", "RABBITMQ_PORT", "RABBITMQ_USERNAME", "RABBITMQ_PASSWORD",
	"RABBITMQ_VHOST", "RABIBRIDGE_SECRET", "RABIBRIDGE_SERIALISER", "RABIBRIDGE_COMPRESS_THRESHOLD",
	"RABIBRIDGE_LOG_LEVEL", "RABIBRIDGE_CID_MAX", "RABIBRIDGE_TLS_CA_FILE", "RABIBRIDGE_TLS_CERT_FILE",
	"RABIBRIDGE_TLS_KEY_FILE", "RABIBRIDGE_TLS_SERVER_NAME",
}

// fileConfig is the TOML file: RabiBridge's env.toml keys, and ours.
type fileConfig struct {
	RabbitMQ struct {
		URL      string `toml:"URL"`
		Host     string `toml:"RABBITMQ_HOST"`
		Port     int    `toml:"RABBITMQ_PORT"`
		Username string `toml:"RABBITMQ_USERNAME"`
		Password string `toml:"RABBITMQ_PASSWORD"`
		VHost    string `toml:"RABBITMQ_VHOST"`
	} `toml:"rabbitmq"`
	App struct {
		CompressThreshold int    `toml:"COMPRESS_THRESHOLD"`
		Serialiser        string `toml:"SERIALISER"`
		LogLevel          string `toml:"LOG_LEVEL"`
		CIDMax            int    `toml:"CID_MAX"`
	} `toml:"app"`
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

// LoadConfig reads the TOML file at path (RabiBridge's env.toml works
// unchanged) and lays the environment over it. An empty path reads the
// environment alone.
//
//	[rabbitmq]
//	RABBITMQ_HOST = "127.0.0.1"
//	RABBITMQ_PORT = 5672
//	RABBITMQ_USERNAME = "guest"
//	RABBITMQ_PASSWORD = "rbenc1:..."   # or plain, or RabiBridge's legacy form
//	[app]
//	SERIALISER = "msgpack"
//	COMPRESS_THRESHOLD = 1024
//	LOG_LEVEL = "INFO"
//	[secret]
//	SECRET = "..."
func LoadConfig(path string) (Config, error) {
	var c Config
	if path != "" {
		var f fileConfig
		if _, err := toml.DecodeFile(path, &f); err != nil {
			return Config{}, fmt.Errorf("bridge: config file %s: %w", path, err)
		}
		r := f.RabbitMQ
		c = Config{
			URL: r.URL, Host: r.Host, Port: r.Port, Username: r.Username, Password: r.Password, VHost: r.VHost,
			Secret: f.Secret.Secret,
			TLS:    TLSConfig{CAFile: f.TLS.CAFile, CertFile: f.TLS.CertFile, KeyFile: f.TLS.KeyFile, ServerName: f.TLS.ServerName},
			App:    App{Serialiser: f.App.Serialiser, CompressThreshold: f.App.CompressThreshold, LogLevel: f.App.LogLevel, CIDMax: f.App.CIDMax},
		}
	}
	if err := c.overlayEnv(true); err != nil {
		return Config{}, err
	}
	return c, nil
}

// overlayEnv sets fields from the environment: every variable that is set
// when override is true (the environment over a file), only empty fields
// otherwise (a program's own settings over the environment).
func (c *Config) overlayEnv(override bool) error {
	str := func(dst *string, name string) {
		if v, ok := os.LookupEnv(name); ok && v != "" && (override || *dst == "") {
			*dst = v
		}
	}
	var bad []string
	num := func(dst *int, name string) {
		if v, ok := os.LookupEnv(name); ok && v != "" && (override || *dst == 0) {
			n, err := strconv.Atoi(v)
			if err != nil {
				bad = append(bad, name)
				return
			}
			*dst = n
		}
	}
	if override || (c.URL == "" && len(c.URLs) == 0 && c.Host == "") {
		str(&c.URL, "RABIBRIDGE_URL")
	}
	str(&c.Host, "RABBITMQ_HOST")
	num(&c.Port, "RABBITMQ_PORT")
	str(&c.Username, "RABBITMQ_USERNAME")
	str(&c.Password, "RABBITMQ_PASSWORD")
	str(&c.VHost, "RABBITMQ_VHOST")
	str(&c.Secret, "RABIBRIDGE_SECRET")
	str(&c.App.Serialiser, "RABIBRIDGE_SERIALISER")
	num(&c.App.CompressThreshold, "RABIBRIDGE_COMPRESS_THRESHOLD")
	str(&c.App.LogLevel, "RABIBRIDGE_LOG_LEVEL")
	num(&c.App.CIDMax, "RABIBRIDGE_CID_MAX")
	str(&c.TLS.CAFile, "RABIBRIDGE_TLS_CA_FILE")
	str(&c.TLS.CertFile, "RABIBRIDGE_TLS_CERT_FILE")
	str(&c.TLS.KeyFile, "RABIBRIDGE_TLS_KEY_FILE")
	str(&c.TLS.ServerName, "RABIBRIDGE_TLS_SERVER_NAME")
	if len(bad) > 0 {
		return fmt.Errorf("bridge: environment: %s must be a whole number", strings.Join(bad, ", "))
	}
	return nil
}

// brokerURL returns the URL to dial, built from the pieces when URL is
// empty, with the password decrypted.
func (c *Config) brokerURL() (string, error) {
	if c.URL != "" {
		return c.URL, nil
	}
	if c.Host == "" {
		return "", errors.New("bridge: no broker: set Config.URL, or RABIBRIDGE_URL, or RABBITMQ_HOST (or [rabbitmq] RABBITMQ_HOST in the config file)")
	}
	password := c.Password
	if password != "" && (c.Secret != "" || strings.HasPrefix(password, encPrefix)) {
		p, err := DecryptPassword(c.Secret, password)
		if err != nil {
			return "", err
		}
		password = p
	}
	user := c.Username
	if user == "" {
		user, password = "guest", "guest"
	}
	scheme, port := "amqp", c.Port
	if c.TLS != (TLSConfig{}) {
		scheme = "amqps"
	}
	if port == 0 {
		port = 5672
		if scheme == "amqps" {
			port = 5671
		}
	}
	vhost := c.VHost
	if vhost == "" {
		vhost = "/"
	}
	u := url.URL{Scheme: scheme, User: url.UserPassword(user, password), Host: net.JoinHostPort(c.Host, strconv.Itoa(port)), Path: "/" + url.PathEscape(vhost)}
	if vhost == "/" {
		u.Path = "/"
	}
	return u.String(), nil
}

// config returns the tls.Config for dialling brokerURL, or nil when it is
// not amqps://.
func (t TLSConfig) config(brokerURL string) (*tls.Config, error) {
	u, err := url.Parse(brokerURL)
	if err != nil || u.Scheme != "amqps" {
		return nil, nil
	}
	cfg := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: t.ServerName, InsecureSkipVerify: t.InsecureSkipVerify}
	if cfg.ServerName == "" {
		cfg.ServerName = u.Hostname()
	}
	if t.CAFile != "" {
		pem, err := os.ReadFile(t.CAFile)
		if err != nil {
			return nil, fmt.Errorf("bridge: TLS CA file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("bridge: TLS CA file %s holds no PEM certificate", t.CAFile)
		}
		cfg.RootCAs = pool
	}
	if t.CertFile != "" || t.KeyFile != "" {
		cert, err := tls.LoadX509KeyPair(t.CertFile, t.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("bridge: TLS client certificate: %w", err)
		}
		cfg.Certificates = []tls.Certificate{cert}
	}
	return cfg, nil
}

// brokerURLs returns every URL to try: URL's (split at commas), then
// URLs, or the one built from the pieces.
func (c *Config) brokerURLs() ([]string, error) {
	var out []string
	for _, u := range append(strings.Split(c.URL, ","), c.URLs...) {
		if u = strings.TrimSpace(u); u != "" {
			out = append(out, u)
		}
	}
	if len(out) > 0 {
		return out, nil
	}
	u, err := c.brokerURL()
	if err != nil {
		return nil, err
	}
	return []string{u}, nil
}

// redacted returns c with its password, secret and URL password hidden.
func (c Config) redacted() Config {
	if c.Password != "" {
		c.Password = "xxxxx"
	}
	if c.Secret != "" {
		c.Secret = "xxxxx"
	}
	var urls []string
	for _, u := range strings.Split(c.URL, ",") {
		urls = append(urls, redact.URL(u))
	}
	c.URL = strings.Join(urls, ",")
	c.URLs = append([]string(nil), c.URLs...)
	for i, u := range c.URLs {
		c.URLs[i] = redact.URL(u)
	}
	return c
}

type plainConfig Config // no methods: prints as a struct

// Format prints the Config with its password, secret and the URL's password
// hidden, whatever the verb.
func (c Config) Format(f fmt.State, verb rune) {
	r := plainConfig(c.redacted())
	switch {
	case verb == 'v' && f.Flag('#'):
		fmt.Fprintf(f, "%#v", r)
	case verb == 'v' && f.Flag('+'):
		fmt.Fprintf(f, "%+v", r)
	default:
		fmt.Fprintf(f, "%v", r)
	}
}

// String returns the Config as %v prints it, with nothing secret.
func (c Config) String() string { return fmt.Sprint(c) }

// LogValue logs the Config with nothing secret.
func (c Config) LogValue() slog.Value {
	r := c.redacted()
	return slog.GroupValue(slog.String("url", r.URL), slog.String("host", r.Host), slog.Int("port", r.Port),
		slog.String("username", r.Username), slog.String("vhost", r.VHost))
}
