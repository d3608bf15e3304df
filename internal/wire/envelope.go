package wire

import "fmt"

// Request is a request envelope [args, kwargs] whose parts are still encoded.
type Request struct {
	// Args holds the encoding of each positional argument.
	Args [][]byte
	// Kwargs is the encoding of the keyword-argument map; it may be an empty
	// map or nil.
	Kwargs []byte
}

// AppendRequest appends the request envelope [args, kwargs] to dst; a nil
// kwargs is sent as an empty map. A Go request struct travels as kwargs:
// AppendRequest(c, dst, nil, req).
func AppendRequest(c Codec, dst []byte, args []any, kwargs any) ([]byte, error) {
	dst = c.AppendArray(dst, 2)
	dst = c.AppendArray(dst, len(args))
	var err error
	for i, a := range args {
		dst = c.AppendSep(dst, i)
		if dst, err = c.AppendValue(dst, a); err != nil {
			return dst, err
		}
	}
	dst = c.AppendEnd(dst)
	dst = c.AppendSep(dst, 1)
	if kwargs == nil {
		dst = c.AppendEmptyMap(dst)
	} else if dst, err = c.AppendValue(dst, kwargs); err != nil {
		return dst, err
	}
	return c.AppendEnd(dst), nil
}

// AppendRequestArg appends the request envelope [[arg], {}] to dst: a call
// with one positional argument.
func AppendRequestArg(c Codec, dst []byte, arg any) ([]byte, error) {
	dst = c.AppendArray(dst, 2)
	dst = c.AppendArray(dst, 1)
	dst, err := c.AppendValue(dst, arg)
	if err != nil {
		return dst, err
	}
	dst = c.AppendEnd(dst)
	dst = c.AppendSep(dst, 1)
	dst = c.AppendEmptyMap(dst)
	return c.AppendEnd(dst), nil
}

// DecodeRequest splits a request body into its positional arguments and its
// keyword-argument map, checking the body's shape. The parts alias body.
func DecodeRequest(c Codec, body []byte) (Request, error) {
	var parts [2][]byte
	if err := pair(c, body, &parts); err != nil {
		return Request{}, fmt.Errorf("codec: request: %w", err)
	}
	req := Request{Kwargs: parts[1]}
	if !c.IsEmpty(parts[0]) {
		args, err := c.Elements(nil, parts[0])
		if err != nil {
			return Request{}, fmt.Errorf("codec: request args: %w", err)
		}
		req.Args = args
	}
	return req, nil
}

// Reply codes of the envelope [code, result].
const (
	replyOK    = 0
	replyError = 1
)

// AppendReply appends the success reply envelope [0, result] to dst.
func AppendReply(c Codec, dst []byte, result any) ([]byte, error) {
	dst = c.AppendArray(dst, 2)
	dst = c.AppendInt(dst, replyOK)
	dst = c.AppendSep(dst, 1)
	dst, err := c.AppendValue(dst, result)
	if err != nil {
		return dst, err
	}
	return c.AppendEnd(dst), nil
}

// AppendErrorReply appends the failure reply envelope [1, message] to dst.
func AppendErrorReply(c Codec, dst []byte, message string) []byte {
	dst = c.AppendArray(dst, 2)
	dst = c.AppendInt(dst, replyError)
	dst = c.AppendSep(dst, 1)
	dst, _ = c.AppendValue(dst, message) // a string always encodes
	return c.AppendEnd(dst)
}

// DecodeReply splits a reply body. On success ok is true and result is the
// encoded return value; on failure ok is false and message is the remote
// side's description. result aliases body.
func DecodeReply(c Codec, body []byte) (ok bool, result []byte, message string, err error) {
	var parts [2][]byte
	if err := pair(c, body, &parts); err != nil {
		return false, nil, "", fmt.Errorf("codec: reply: %w", err)
	}
	if p := parts[0]; len(p) == 1 && (c == Msgpack && p[0] == 0 || c == JSON && p[0] == '0') {
		return true, parts[1], "", nil // the common case, without a decoder
	}
	return decodeReplySlow(c, parts)
}

// decodeReplySlow reads a reply that is not the plain success [0, result]:
// apart, so that its decoding targets do not escape on the common path.
func decodeReplySlow(c Codec, parts [2][]byte) (ok bool, result []byte, message string, err error) {
	var code int
	if err := c.Unmarshal(parts[0], &code); err != nil {
		return false, nil, "", fmt.Errorf("codec: reply code: %w", err)
	}
	if code == replyOK {
		return true, parts[1], "", nil
	}
	if err := c.Unmarshal(parts[1], &message); err != nil {
		// Not a string: keep what the peer sent, readably.
		var v any
		if c.Unmarshal(parts[1], &v) != nil {
			return false, nil, "", fmt.Errorf("codec: reply message: %w", err)
		}
		message = fmt.Sprint(v)
	}
	return false, nil, message, nil
}

// pair splits a two-element array. The msgpack case avoids the interface
// call so that nothing escapes to the heap.
func pair(c Codec, body []byte, parts *[2][]byte) error {
	var els [][]byte
	var err error
	if m, ok := c.(msgpackCodec); ok {
		var buf [2][]byte // stays on the stack: a static call
		els, err = m.Elements(buf[:0], body)
	} else {
		els, err = c.Elements(nil, body)
	}
	if err != nil {
		return err
	}
	if len(els) != 2 {
		return fmt.Errorf("%w: want a 2-element array, got %d elements", ErrMalformed, len(els))
	}
	parts[0], parts[1] = els[0], els[1]
	return nil
}
