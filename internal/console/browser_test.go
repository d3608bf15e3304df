package console_test

import (
	"context"
	"net/http/httptest"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/rabibridge/rabibridge/caller"
	"github.com/rabibridge/rabibridge/internal/console"
	"github.com/rabibridge/rabibridge/internal/demo"
)

// browser returns the path of a Chromium, or skips the test saying how to
// get one (make test installs Debian's).
func browser(t *testing.T) string {
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	t.Skip("no Chromium to drive: scripts/chromium.sh installs Debian's chromium (make test runs it)")
	return ""
}

// TestConsoleInBrowser drives the console in headless Chromium over the demo
// functions: the page lists them (and a sync one); the form built from add's request schema
// calls it and shows 3; leaving b out shows the validation error and marks
// the field. With RABIBRIDGE_CONSOLE_SCREENSHOT=file.png it saves the page.
func TestConsoleInBrowser(t *testing.T) {
	exe := browser(t)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	c, _ := serveDemo(t)
	for range 3 { // some counts to show
		caller.Call[demo.AddReq, int](ctx, c, "add", demo.AddReq{A: 40, B: 2})
	}
	c.Invoke(ctx, "fail", nil, nil)
	srv := httptest.NewServer(console.Handler(console.Config{Caller: c, AllowCalls: true, Hosts: console.LoopbackHosts}))
	defer srv.Close()

	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(exe), chromedp.NoSandbox,
		chromedp.DisableGPU, chromedp.Flag("disable-quic", true), chromedp.Flag("no-first-run", true),
		chromedp.Flag("disable-component-update", true), chromedp.Flag("disable-sync", true),
		chromedp.WindowSize(1400, 900), chromedp.UserDataDir(t.TempDir()))
	actx, cancelAlloc := chromedp.NewExecAllocator(ctx, opts...)
	defer cancelAlloc()
	bctx, cancelBrowser := chromedp.NewContext(actx, chromedp.WithLogf(t.Logf))
	defer cancelBrowser()

	// text runs the steps, then reads the text of each selector.
	text := func(steps []chromedp.Action[chromedp.Void], sels ...string) []string {
		t.Helper()
		if err := chromedp.Do(bctx, steps...); err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, sel := range sels {
			s, err := chromedp.Run(bctx, chromedp.Text(sel))
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, s)
		}
		return out
	}

	text([]chromedp.Action[chromedp.Void]{
		chromedp.Navigate(srv.URL + "/"),
		chromedp.WaitVisible(`#functions tbody tr[data-name="tick"]`),
	})
	names, err := chromedp.Run(bctx, chromedp.Evaluate[string](`[...document.querySelectorAll('#functions tbody tr')].map(r => r.dataset.name).join(',')`))
	if err != nil {
		t.Fatal(err)
	}
	if names != "add,echo,fail,fib,order,sleep,tick" {
		t.Errorf("the page lists %q", names)
	}

	got := text([]chromedp.Action[chromedp.Void]{
		chromedp.Click(`#functions tbody tr[data-name="add"]`),
		chromedp.WaitVisible(`input[data-path="/a"]`),
		chromedp.SendKeys(`input[data-path="/a"]`, "1"),
		chromedp.SendKeys(`input[data-path="/b"]`, "2"),
		chromedp.Click(`#call`),
		chromedp.WaitVisible(`#outcome.ok`),
	}, `#outcome-head`, `#outcome-body`)
	if head, body := got[0], got[1]; body != "3" || !strings.HasPrefix(head, "ok · ") || !strings.HasSuffix(head, " ms") {
		t.Errorf("add(1, 2) shows %q / %q", head, body)
	}
	if path := os.Getenv("RABIBRIDGE_CONSOLE_SCREENSHOT"); path != "" {
		if err := chromedp.Do(bctx, chromedp.Sleep(3500*time.Millisecond)); err != nil { // a refresh with the call counted
			t.Fatal(err)
		}
		png, err := chromedp.Run(bctx, chromedp.FullScreenshot(100))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, png, 0o644); err != nil {
			t.Fatal(err)
		}
	}

	got = text([]chromedp.Action[chromedp.Void]{
		chromedp.SetValue(`input[data-path="/b"]`, ""),
		chromedp.Click(`#call`),
		chromedp.WaitVisible(`#outcome.failed`),
	}, `#outcome-head`, `#outcome-body`)
	if head, body := got[0], got[1]; !strings.HasPrefix(head, "invalid_argument · ") || !strings.Contains(body, "missing property 'b'") {
		t.Errorf("add(a=1) shows %q / %q", head, body)
	}
	class, err := chromedp.Run(bctx, chromedp.AttributeValue(`input[data-path="/b"]`, "class"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(class.Value, "invalid") {
		t.Errorf("the field b is not marked: class %q", class.Value)
	}

	// A nested object, an enum, an array of objects, an optional boolean.
	addItem := chromedp.Click(`fieldset[data-path="/items"] > button`)
	got = text([]chromedp.Action[chromedp.Void]{
		chromedp.Click(`#functions tbody tr[data-name="order"]`),
		chromedp.WaitVisible(`input[data-path="/customer/name"]`),
		chromedp.SendKeys(`input[data-path="/customer/name"]`, "Ada"),
		chromedp.SetValue(`select[data-path="/customer/tier"]`, "1"), // the enum's second value
		addItem, addItem,
		chromedp.WaitVisible(`input[data-path="/items/1/qty"]`),
		chromedp.SendKeys(`input[data-path="/items/0/sku"]`, "a"),
		chromedp.SendKeys(`input[data-path="/items/0/qty"]`, "2"),
		chromedp.SendKeys(`input[data-path="/items/1/sku"]`, "b"),
		chromedp.SendKeys(`input[data-path="/items/1/qty"]`, "0"), // under its minimum
		chromedp.SetValue(`select[data-path="/rush"]`, "true"),
		chromedp.Click(`#call`),
		chromedp.WaitVisible(`#outcome.failed`),
	}, `#outcome-head`, `#outcome-body`)
	if head, body := got[0], got[1]; !strings.HasPrefix(head, "invalid_argument") || !strings.Contains(body, "/items/1/qty") {
		t.Errorf("order with a quantity of 0 shows %q / %q", head, body)
	}
	if class, err := chromedp.Run(bctx, chromedp.AttributeValue(`input[data-path="/items/1/qty"]`, "class")); err != nil || !strings.Contains(class.Value, "invalid") {
		t.Errorf("the field /items/1/qty is not marked: %q, %v", class.Value, err)
	}
	got = text([]chromedp.Action[chromedp.Void]{
		chromedp.SetValue(`input[data-path="/items/1/qty"]`, "3"),
		chromedp.Click(`#call`),
		chromedp.WaitVisible(`#outcome.ok`),
	}, `#outcome-body`)
	if want := `"Ada/silver: 2 items, 5 units, rush=true"`; got[0] != want {
		t.Errorf("order shows %q, want %q", got[0], want)
	}
}
