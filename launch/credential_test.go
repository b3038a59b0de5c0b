package launch

import (
	"os"
	"testing"
)

// A uid or gid that no passwd or group file names still works, as
// containers run with them; a name that does not resolve is an error.
func TestWorkerCredentialNumericIDs(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("--user needs root")
	}
	cred, env, err := Credential("4242", "")
	if err != nil {
		t.Fatal(err)
	}
	if cred.Uid != 4242 || cred.Gid != 4242 || len(env) != 0 {
		t.Errorf("uid %d gid %d env %q, want 4242, 4242 and no USER/HOME", cred.Uid, cred.Gid, env)
	}
	if cred, _, err = Credential("4242", "4343"); err != nil || cred.Gid != 4343 {
		t.Errorf("with --group 4343: %+v, %v", cred, err)
	}
	if _, _, err := Credential("no-such-user-here", ""); err == nil {
		t.Error("an unknown user name was accepted")
	}
}
