package control

import (
	"bufio"
	"encoding/json"
	"errors"
	"net"
	"testing"

	"github.com/clusterd/clusterd/logcapture"
)

// fakeApp answers every request with err, and a status of Instances 2.
type fakeApp struct{ err error }

func (f fakeApp) Status() (Status, error)      { return Status{Instances: 2}, f.err }
func (f fakeApp) Scale(string) (Status, error) { return Status{Instances: 2}, f.err }
func (f fakeApp) Reload() error                { return f.err }
func (f fakeApp) ReloadAll() error             { return f.err }
func (f fakeApp) Upgrade() error               { return f.err }
func (f fakeApp) ReopenLogs() error            { return f.err }
func (f fakeApp) Stop()                        {}
func (f fakeApp) Logs() *logcapture.Ring       { return nil }
func (f fakeApp) Done() <-chan struct{}        { return nil }

// TestAnswer: each command's outcome reaches the client as the protocol's
// one line, the app's error as its text.
func TestAnswer(t *testing.T) {
	ask := func(app App, req string) Response {
		t.Helper()
		client, server := net.Pipe()
		defer client.Close()
		go func() { defer server.Close(); Answer(server, app) }()
		if _, err := client.Write([]byte(req + "\n")); err != nil {
			t.Fatal(err)
		}
		var resp Response
		line, err := bufio.NewReader(client).ReadBytes('\n')
		if err == nil {
			err = json.Unmarshal(line, &resp)
		}
		if err != nil {
			t.Fatalf("%s: %v", req, err)
		}
		return resp
	}
	failed := fakeApp{errors.New("no")}
	for _, req := range []string{`{"command":"status"}`, `{"command":"scale","arg":"+1"}`, `{"command":"reload"}`,
		`{"command":"reload","arg":"all"}`, `{"command":"upgrade"}`, `{"command":"reopen-logs"}`, `{"command":"stop"}`} {
		if resp := ask(fakeApp{}, req); !resp.OK || resp.Error != "" {
			t.Errorf("%s: %+v, want OK", req, resp)
		}
		if req == `{"command":"stop"}` {
			continue
		}
		if resp := ask(failed, req); resp.OK || resp.Error != "no" {
			t.Errorf("%s failing: %+v, want the app's error", req, resp)
		}
	}
	if resp := ask(fakeApp{}, `{"command":"status"}`); resp.Status == nil || resp.Status.Instances != 2 {
		t.Errorf("status: %+v", resp)
	}
	if resp := ask(fakeApp{}, `{"command":"dance"}`); resp.OK || resp.Error != `unknown command "dance"` {
		t.Errorf("unknown command: %+v", resp)
	}
}
