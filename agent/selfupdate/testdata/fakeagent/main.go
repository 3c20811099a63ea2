// Command fakeagent stands in for autocv-agent in the selfupdate tests:
// `version` prints a version as the agent does; any other command behaves
// as the mode it was built with (-ldflags "-X main.mode=..."):
//
//	good  report healthy (selfupdate.MarkReady), then run until SIGTERM
//	exit  exit 1 at once, as a binary that cannot start
//	hang  run without ever reporting healthy
package main

import (
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/autocv/autocv/agent/selfupdate"
)

var (
	mode    = "good"
	version = "dev"
)

func main() {
	if len(os.Args) > 1 && os.Args[1] == "version" {
		fmt.Printf("autocv-agent %s (fake)\n", version)
		return
	}
	switch mode {
	case "exit":
		fmt.Fprintln(os.Stderr, "fakeagent: built to fail")
		os.Exit(1)
	case "good":
		if err := selfupdate.MarkReady(version); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
	}
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, syscall.SIGTERM, os.Interrupt)
	<-ch
}
