package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/rabibridge/rabibridge/internal/secret"
)

// stdin is where encrypt-password reads the password; tests replace it.
var stdin io.Reader = os.Stdin

func runEncryptPassword(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flags("encrypt-password", stderr)
	var cf connFlags
	cf.register(fs)
	key := fs.String("secret", "", "the secret (default: $RABIBRIDGE_SECRET, then [secret] SECRET of --config)")
	fs.Usage = func() {
		fmt.Fprint(stderr, `usage: rabibridge encrypt-password [--secret S] < password

Reads a password from standard input (its first line) and prints it
encrypted with the secret, for RABBITMQ_PASSWORD in a config file.

flags:
`)
		fs.PrintDefaults()
	}
	if _, err := parse(fs, args); err != nil {
		return err
	}
	if *key == "" {
		cfg, err := cf.load(os.Getenv)
		if err != nil {
			return err
		}
		*key = cfg.Secret
	}
	if *key == "" {
		return usageError("no secret: give --secret, set RABIBRIDGE_SECRET, or [secret] SECRET in --config")
	}
	line, err := bufio.NewReader(stdin).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return err
	}
	password := strings.TrimRight(line, "\r\n")
	if password == "" {
		return usageError("no password on standard input")
	}
	enc, err := secret.Encrypt(*key, password)
	if err != nil {
		return err
	}
	fmt.Fprintln(stdout, enc)
	return nil
}
