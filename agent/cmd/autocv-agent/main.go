// Command autocv-agent is the AutoCV device agent. It serves a model on
// the local HTTP API (:8987) through an inference plugin process.
//
//	autocv-agent enroll --server URL --token T [--state-dir DIR]
//	autocv-agent run [--state-dir DIR] [--listen HOST:PORT]
//	autocv-agent serve --package FILE [--listen HOST:PORT] [--trust-key FILE] [--plugin onnx-cpu|onnx-cuda]
//	autocv-agent version
//
// enroll trades a one-time token for the device's identity; run is the
// managed mode: it keeps an MQTT session with the control plane and
// deploys the models it is told to. serve is standalone mode (the offline
// SDK's): one package, no control plane. Every flag is also an AUTOCV_*
// environment variable; serve also reads an optional YAML file given with
// --config. `<command> -h` lists them.
package main

import (
	"fmt"
	"io"
	"os"
	"runtime"

	"github.com/autocv/autocv/internal/buildinfo"
	"github.com/autocv/autocv/protocol/inference"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

func run() error {
	if len(os.Args) < 2 {
		usage(os.Stderr)
		return fmt.Errorf("no command given")
	}
	switch cmd, args := os.Args[1], os.Args[2:]; cmd {
	case "serve":
		return serve(args)
	case "version", "-version", "--version":
		fmt.Printf("autocv-agent %s (%s/%s, %s, inference API %d)\n",
			buildinfo.String(), runtime.GOOS, runtime.GOARCH, runtime.Version(), inference.APIVersion)
		return nil
	case "help", "-h", "-help", "--help":
		usage(os.Stdout)
		return nil
	case "enroll":
		return enrollCmd(args)
	case "run":
		return runAgent(args)
	default:
		usage(os.Stderr)
		return fmt.Errorf("unknown command %q", cmd)
	}
}

func usage(w io.Writer) {
	fmt.Fprint(w, `usage: autocv-agent <command> [flags]

commands:
  enroll    enrol this device with the control plane
            autocv-agent enroll --server URL --token TOKEN [--state-dir DIR]
  run       run the enrolled agent: MQTT session, model deployments, HTTP API
            autocv-agent run [--state-dir DIR] [--listen HOST:PORT]
  serve     serve one model package on the local HTTP API (standalone mode)
            autocv-agent serve --package FILE [--listen HOST:PORT] [--trust-key FILE]
  version   print the agent's version
  help      print this help

"autocv-agent <command> -h" lists every setting with its AUTOCV_* variable.
`)
}
