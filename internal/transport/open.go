package transport

import (
	"crypto/tls"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
)

// openAMQP connects to url as amqp.DialConfig does, but hands amqp091-go a
// socket without SetReadDeadline: amqp091-go's reader passes every frame it
// reads to the connection's heartbeat goroutine when the socket has one,
// only so that the goroutine moves the read deadline, which wakes that
// goroutine once or more per call (docs/benchmarks.md, "Measured and
// kept"). The guarded socket moves its read deadline itself instead (see
// guardedConn.armRead), to the same bound: three of the broker's
// heartbeats.
//
// What DialConfig would take from the URL it takes here too: the virtual
// host, the credentials and auth_mechanism, heartbeat and channel_max.
// cfg.Dial returns the guarded socket; TLS, for amqps, goes over it, with
// cfg.TLSClientConfig (bridge.Config.TLS), as with DialConfig given one.
func openAMQP(rawURL string, cfg amqp.Config) (*amqp.Connection, error) {
	uri, err := amqp.ParseURI(rawURL)
	if err != nil {
		return nil, err
	}
	if cfg.Locale == "" {
		cfg.Locale = "en_US"
	}
	if cfg.SASL == nil {
		if cfg.SASL, err = saslOf(uri); err != nil {
			return nil, err
		}
	}
	if cfg.Vhost == "" {
		cfg.Vhost = uri.Vhost
	}
	// The URL's heartbeat wins, as in DialConfig; amqp.URI keeps it
	// unexported, so it is read again here (ParseURI checked it).
	if u, err := url.Parse(rawURL); err == nil && u.Query().Has("heartbeat") {
		s, _ := strconv.ParseUint(u.Query().Get("heartbeat"), 10, 16)
		cfg.Heartbeat = time.Duration(s) * time.Second
	} else if cfg.Heartbeat == 0 {
		cfg.Heartbeat = 10 * time.Second
	}
	if cfg.ChannelMax == 0 {
		cfg.ChannelMax = uri.ChannelMax
	}
	if cfg.FrameSize == 0 {
		cfg.FrameSize = 128 << 10 // RabbitMQ's frame_max, DialConfig's default
	}
	if cfg.Dial == nil {
		cfg.Dial = amqp.DefaultDial(30 * time.Second)
	}
	conn, err := cfg.Dial("tcp", net.JoinHostPort(uri.Host, strconv.Itoa(uri.Port)))
	if err != nil {
		return nil, err
	}
	if uri.Scheme == "amqps" {
		tc := cfg.TLSClientConfig
		if tc == nil {
			tc = &tls.Config{MinVersion: tls.VersionTLS12, ServerName: uri.ServerName}
		}
		if tc.ServerName == "" {
			tc = tc.Clone()
			tc.ServerName = uri.Host
		}
		client := tls.Client(conn, tc)
		if err := client.Handshake(); err != nil {
			conn.Close()
			return nil, err
		}
		conn = client
	}
	c, err := amqp.Open(socket{conn}, cfg)
	if err != nil {
		conn.Close() // amqp091-go leaves it open when it gives up (no auth mechanism in common)
		return nil, err
	}
	return c, nil
}

// saslOf is the authentication the URL asks for, as DialConfig picks it.
func saslOf(uri amqp.URI) ([]amqp.Authentication, error) {
	if len(uri.AuthMechanism) == 0 {
		return []amqp.Authentication{uri.PlainAuth()}, nil
	}
	var out []amqp.Authentication
	for _, m := range uri.AuthMechanism {
		switch strings.ToUpper(m) {
		case "PLAIN":
			out = append(out, uri.PlainAuth())
		case "AMQPLAIN":
			out = append(out, uri.AMQPlainAuth())
		case "EXTERNAL":
			out = append(out, &amqp.ExternalAuth{})
		default:
			return nil, fmt.Errorf("unsupported auth_mechanism: %v", m)
		}
	}
	return out, nil
}

// socket is a connection's socket as amqp091-go sees it: a net.Conn
// without SetReadDeadline (see openAMQP). SetDeadline stays, for the
// handshake's deadline and its clearing; nothing here asks amqp091-go for
// the addresses.
type socket struct{ c net.Conn }

func (s socket) Read(p []byte) (int, error)    { return s.c.Read(p) }
func (s socket) Write(p []byte) (int, error)   { return s.c.Write(p) }
func (s socket) Close() error                  { return s.c.Close() }
func (s socket) SetDeadline(t time.Time) error { return s.c.SetDeadline(t) }
