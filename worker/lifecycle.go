package worker

import (
	"context"
	"errors"
	"time"
)

// Start serves the functions of the worker's registry in the background,
// as Serve does, and returns once it consumes every function's queue: nil,
// or the reason it cannot serve (a queue that cannot be declared, a
// registry with no functions). ctx bounds the start; serving goes on until
// Shutdown. A Worker serves once: Start after Start or Serve is an error.
//
//	w := worker.New(conn, reg, worker.Config{})
//	if err := w.Start(ctx); err != nil {
//		log.Fatal(err)
//	}
//	defer w.Shutdown(context.Background())
func (w *Worker) Start(ctx context.Context) error {
	if w.started.Load() {
		return errors.New("worker: Start called after Start or Serve")
	}
	serveCtx, stop := context.WithCancel(context.WithoutCancel(ctx))
	done := make(chan struct{})
	w.lifeMu.Lock()
	w.stop, w.serving = stop, done
	w.lifeMu.Unlock()
	go func() {
		defer close(done)
		w.Serve(serveCtx) // its result is Err's
	}()
	select {
	case <-w.Ready():
		if err := w.Err(); err != nil {
			stop()
			return err
		}
		return nil
	case <-ctx.Done():
		stop()
		<-done
		return ctx.Err()
	}
}

// Shutdown stops a worker started with Start, as Serve stops when its ctx
// ends: it stops consuming, lets the handlers under way finish and reply,
// and returns the calls it did not finish to their queues. The drain ends
// at DrainTimeout or at ctx's deadline, whichever comes first, and closes
// what it opened a second later whatever the broker does. Shutdown returns
// what Serve returned (nil after a complete drain); if ctx ends without a
// deadline before the drain does, it returns ctx's error and the drain goes
// on to its end. Shutdown again returns the same.
func (w *Worker) Shutdown(ctx context.Context) error {
	w.lifeMu.Lock()
	stop, done := w.stop, w.serving
	w.lifeMu.Unlock()
	if stop == nil {
		return errors.New("worker: Shutdown of a worker not started with Start")
	}
	if d, ok := ctx.Deadline(); ok {
		w.drainBy.Store(d.UnixNano())
	}
	stop()
	select {
	case <-done:
		return w.Err()
	case <-ctx.Done():
		return ctx.Err()
	}
}

// drainDeadline is when a drain that starts now ends: DrainTimeout from
// now, or the deadline Shutdown was given if that is sooner.
func (w *Worker) drainDeadline() time.Time {
	deadline := time.Now().Add(w.cfg.DrainTimeout)
	if by := w.drainBy.Load(); by != 0 && time.Unix(0, by).Before(deadline) {
		return time.Unix(0, by)
	}
	return deadline
}
