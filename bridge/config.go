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

	"github.com/rabibridge/rabibridge/internal/redact"
	"github.com/rabibridge/rabibridge/internal/secret"
	"github.com/rabibridge/rabibridge/internal/settings"
	"github.com/rabibridge/rabibridge/internal/transport"
)

// Defaults of Config's zero fields.
const (
	// DefaultReconnectMin is the first wait before reconnecting.
	DefaultReconnectMin = transport.DefaultReconnectMin
	// DefaultReconnectMax caps the wait before reconnecting: after an
	// outage of any length the next attempt comes 1-2 s after the last.
	DefaultReconnectMax = transport.DefaultReconnectMax
	// DefaultMaxMessageSize is RabbitMQ's default max_message_size, 128 MiB.
	DefaultMaxMessageSize = transport.DefaultMaxMessageSize
)

// Config configures a connection. Fields come, in order of precedence, from
// what the program sets, the environment, and a TOML file (see LoadConfig).
// Printing a Config (%v, %+v, %#v, slog) shows no password or secret.
//
// Dial reads these environment variables, each for a field the program
// left empty (LoadConfig lets them override the file):
//
//	RABIBRIDGE_URL             URL (only when URL, URLs and Host are all empty)
//	RABBITMQ_HOST              Host
//	RABBITMQ_PORT              Port
//	RABBITMQ_USERNAME          Username
//	RABBITMQ_PASSWORD          Password
//	RABBITMQ_VHOST             VHost
//	RABIBRIDGE_SECRET          Secret
//	RABIBRIDGE_TLS_CA_FILE     TLS.CAFile
//	RABIBRIDGE_TLS_CERT_FILE   TLS.CertFile
//	RABIBRIDGE_TLS_KEY_FILE    TLS.KeyFile
//	RABIBRIDGE_TLS_SERVER_NAME TLS.ServerName
//
// RabiBridge's [app] settings (serialiser, compression threshold, CID_MAX)
// are not the connection's: worker.Config and caller.Config hold them.
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
	// Logger receives the connection's log lines (workers and callers made
	// on the connection use it too, unless given their own); nil means
	// the lines at Warn and above, to the program's slog.Default().
	Logger *slog.Logger
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

// LoadConfig reads the TOML file at path (RabiBridge's env.toml works
// unchanged) and lays the environment over it. An empty path reads the
// environment alone.
//
//	[rabbitmq]
//	RABBITMQ_HOST = "127.0.0.1"
//	RABBITMQ_PORT = 5672
//	RABBITMQ_USERNAME = "guest"
//	RABBITMQ_PASSWORD = "rbenc1:..."   # or plain, or RabiBridge's legacy form
//	[secret]
//	SECRET = "..."
//
// The file's [app] section is the CLI's (`rabibridge --config`); a program
// sets those settings in worker.Config and caller.Config.
func LoadConfig(path string) (Config, error) {
	f, err := settings.Read(path)
	if err != nil {
		return Config{}, fmt.Errorf("bridge: %w", err)
	}
	r := f.RabbitMQ
	c := Config{
		URL: r.URL, Host: r.Host, Port: r.Port, Username: r.Username, Password: r.Password, VHost: r.VHost,
		Secret: f.Secret.Secret,
		TLS:    TLSConfig{CAFile: f.TLS.CAFile, CertFile: f.TLS.CertFile, KeyFile: f.TLS.KeyFile, ServerName: f.TLS.ServerName},
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
	if override || (c.URL == "" && len(c.URLs) == 0 && c.Host == "") {
		settings.Str(&c.URL, "RABIBRIDGE_URL", override)
	}
	settings.Str(&c.Host, "RABBITMQ_HOST", override)
	bad := settings.Num(&c.Port, "RABBITMQ_PORT", override, nil)
	settings.Str(&c.Username, "RABBITMQ_USERNAME", override)
	settings.Str(&c.Password, "RABBITMQ_PASSWORD", override)
	settings.Str(&c.VHost, "RABBITMQ_VHOST", override)
	settings.Str(&c.Secret, "RABIBRIDGE_SECRET", override)
	settings.Str(&c.TLS.CAFile, "RABIBRIDGE_TLS_CA_FILE", override)
	settings.Str(&c.TLS.CertFile, "RABIBRIDGE_TLS_CERT_FILE", override)
	settings.Str(&c.TLS.KeyFile, "RABIBRIDGE_TLS_KEY_FILE", override)
	settings.Str(&c.TLS.ServerName, "RABIBRIDGE_TLS_SERVER_NAME", override)
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
	if password != "" && (c.Secret != "" || strings.HasPrefix(password, secret.Prefix)) {
		p, err := secret.Decrypt(c.Secret, password)
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

// LogValue logs the Config with nothing secret.
func (c Config) LogValue() slog.Value {
	r := c.redacted()
	return slog.GroupValue(slog.String("url", r.URL), slog.String("host", r.Host), slog.Int("port", r.Port),
		slog.String("username", r.Username), slog.String("vhost", r.VHost))
}

// ErrSecret is wrapped by Dial's error when the password is encrypted and
// does not decrypt with the secret (none is set, or not the one it was
// encrypted with).
var ErrSecret = secret.Err
