// Command autocv-fleetsim runs N simulated edge agents in one process
// against a real control plane: each enrols with the enrolment token, holds
// its own MQTT client and follows rollouts like the real agent, without an
// inference runtime. Faults can be given to a fraction of the devices.
//
//	autocv-fleetsim --server http://127.0.0.1:8080 --token T --devices 1000 \
//	    --fault slow-transfer:0.1 --fault crash-on-swap:0.05
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"runtime"
	"syscall"
	"time"

	"github.com/autocv/autocv/agent/fleetsim"
)

type faultFlags []fleetsim.Fault

func (f *faultFlags) String() string { return fmt.Sprint(*f) }

func (f *faultFlags) Set(s string) error {
	v, err := fleetsim.ParseFault(s)
	if err != nil {
		return err
	}
	*f = append(*f, v)
	return nil
}

func main() {
	var cfg fleetsim.Config
	var faults faultFlags
	var every time.Duration
	flag.StringVar(&cfg.Server, "server", "", "控制面地址 / control plane URL, e.g. http://127.0.0.1:8080")
	flag.StringVar(&cfg.Token, "token", "", "注册令牌 / enrolment token")
	flag.IntVar(&cfg.Devices, "devices", 10, "模拟设备数 / number of simulated devices")
	flag.StringVar(&cfg.NamePrefix, "name", "sim", "设备名前缀 / device name prefix")
	flag.Var(&faults, "fault", "故障 类型:比例，可重复 / fault kind:fraction, repeatable; kinds: slow-transfer, cut-transfer, crash-on-swap, fail-self-test, offline, telemetry-flood")
	flag.DurationVar(&every, "stats", 5*time.Second, "统计输出间隔 / how often to print counters")
	flag.Parse()
	cfg.Faults = faults
	if err := run(cfg, every); err != nil {
		fmt.Fprintln(os.Stderr, "autocv-fleetsim:", err)
		os.Exit(1)
	}
}

func run(cfg fleetsim.Config, every time.Duration) error {
	sim, err := fleetsim.New(cfg)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	start := time.Now()
	if err := sim.Enroll(ctx); err != nil {
		return err
	}
	fmt.Printf("已注册 %d 台设备，用时 %s / enrolled %d devices in %s\n", cfg.Devices, time.Since(start).Round(time.Millisecond),
		cfg.Devices, time.Since(start).Round(time.Millisecond))
	go func() {
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
			var m runtime.MemStats
			runtime.ReadMemStats(&m)
			s := sim.Snapshot()
			fmt.Printf("healthy=%d failed=%d crashed=%d offline=%d cuts=%d stalls=%d sent=%d bytes=%d heap=%dMiB goroutines=%d\n",
				s.Healthy, s.Failed, s.Crashed, s.Offline, s.Cuts, s.Stalls, s.Sent, s.Bytes,
				m.HeapInuse>>20, runtime.NumGoroutine())
		}
	}()
	sim.Run(ctx)
	fmt.Println("已停止 / stopped")
	return nil
}
