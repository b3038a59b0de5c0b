// Command orphaner is a worker that leaves an orphan, as a shell script
// with `cmd &` does: it starts a middle process that starts a leaf and
// exits at once, so the leaf's parent is gone and the kernel hands it to
// PID 1 of the namespace. Then the worker waits for SIGTERM.
package main

import (
	"os"
	"os/exec"
	"os/signal"
	"syscall"
	"time"
)

func main() {
	role := ""
	if len(os.Args) > 1 {
		role = os.Args[1]
	}
	switch role {
	case "leaf":
		time.Sleep(10 * time.Minute)
	case "middle":
		if err := exec.Command(os.Args[0], "leaf").Start(); err != nil {
			os.Exit(1)
		}
	default:
		if err := exec.Command(os.Args[0], "middle").Run(); err != nil {
			os.Exit(1)
		}
		stop := make(chan os.Signal, 1)
		signal.Notify(stop, syscall.SIGTERM)
		<-stop
	}
}
