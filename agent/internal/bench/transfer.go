package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"sort"
	"strings"
	"time"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/hooks/auth"
	"github.com/mochi-mqtt/server/v2/listeners"
	"github.com/mochi-mqtt/server/v2/packets"

	"github.com/autocv/autocv/agent/reconcile"
	"github.com/autocv/autocv/agent/session"
	"github.com/autocv/autocv/agent/store"
	"github.com/autocv/autocv/agent/transfer"
	"github.com/autocv/autocv/protocol/fleet"
)

// benchDevice is the device id the transfer bench's session uses.
const benchDevice = "bench-device"

// transferResult is one way of downloading, over several rounds.
type transferResult struct {
	times []time.Duration // sorted
}

func (r transferResult) median() time.Duration { return r.times[len(r.times)/2] }

func (r transferResult) mbps(size int) float64 {
	return float64(size) / (1 << 20) / r.median().Seconds()
}

// benchTransfer downloads a package of size random bytes into a fresh
// package store, rounds times each way, alternating: chunked over MQTT
// through an embedded mochi broker on 127.0.0.1 (agent/session and
// agent/transfer against an in-process sender answering transfer
// requests on the broker's inline client, as the control plane does), and
// by HTTP range download from an httptest server.
func benchTransfer(ctx context.Context, size, rounds, window int) (mq, ht transferResult, err error) {
	data := make([]byte, size)
	_, _ = rand.Read(data)
	sum := sha256.Sum256(data)
	sumHex := hex.EncodeToString(sum[:])

	dir, err := os.MkdirTemp("", "autocv-bench-transfer-")
	if err != nil {
		return mq, ht, err
	}
	defer os.RemoveAll(dir)
	st, err := store.Open(dir, 0)
	if err != nil {
		return mq, ht, err
	}

	brk, addr, err := startBenchBroker()
	if err != nil {
		return mq, ht, err
	}
	defer brk.Close()
	stopSender, err := serveChunks(brk, data)
	if err != nil {
		return mq, ht, err
	}
	defer stopSender()

	sess, err := session.Open(session.Config{
		DeviceID: benchDevice, Broker: fleet.MQTTCredentials{URL: "tcp://" + addr, Username: benchDevice, Password: "bench"},
		Will: reconcile.Reported("bench", "", fleet.StateOffline), ConnectRetryInterval: 100 * time.Millisecond,
	})
	if err != nil {
		return mq, ht, err
	}
	defer sess.Close(time.Second)
	for !sess.Connected() {
		next := sess.NextConnect()
		if sess.Connected() {
			break
		}
		select {
		case <-next:
		case <-ctx.Done():
			return mq, ht, fmt.Errorf("connecting to the embedded broker: %w", ctx.Err())
		case <-time.After(10 * time.Second):
			return mq, ht, errors.New("the session did not connect to the embedded broker within 10s")
		}
	}
	viaMQTT := &transfer.Fetcher{Store: st, MQTT: &transfer.MQTT{
		Publish: sess.Publish, Chunks: sess.Chunks(), NextConnect: sess.NextConnect, Connected: sess.Connected,
		Window: window, Timeout: 10 * time.Second,
	}}

	web := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.ServeContent(w, r, "package.tar.gz", time.Time{}, bytes.NewReader(data))
	}))
	defer web.Close()
	viaHTTP := &transfer.Fetcher{Store: st, HTTP: &transfer.HTTP{Client: web.Client()}}

	once := func(f *transfer.Fetcher, src transfer.Source) (time.Duration, error) {
		if err := st.Remove(sumHex); err != nil {
			return 0, err
		}
		t0 := time.Now()
		if _, err := f.Fetch(ctx, src, nil); err != nil {
			return 0, err
		}
		return time.Since(t0), nil
	}
	for r := 0; r <= rounds; r++ { // round 0 warms up
		d, err := once(viaMQTT, transfer.Source{SHA256: sumHex, Size: int64(size), TransferID: fmt.Sprintf("bench-%d", r)})
		if err != nil {
			return mq, ht, fmt.Errorf("over MQTT: %w", err)
		}
		h, err := once(viaHTTP, transfer.Source{SHA256: sumHex, Size: int64(size), URL: web.URL + "/package.tar.gz"})
		if err != nil {
			return mq, ht, fmt.Errorf("over HTTP: %w", err)
		}
		if r > 0 {
			mq.times, ht.times = append(mq.times, d), append(ht.times, h)
		}
	}
	for _, r := range []*transferResult{&mq, &ht} {
		sort.Slice(r.times, func(i, j int) bool { return r.times[i] < r.times[j] })
	}
	return mq, ht, nil
}

// printTransfer prints benchTransfer's table.
func printTransfer(size, window int, mq, ht transferResult) {
	fmt.Printf("package transfer on loopback: %.1f MB, %d rounds each, MQTT chunks of %d KiB, window %d\n",
		float64(size)/(1<<20), len(mq.times), fleet.DefaultChunkSize>>10, window)
	fmt.Println(strings.Repeat("-", 52))
	fmt.Printf("%-16s %10s %10s %10s\n", "path", "median ms", "min ms", "MB/s")
	for _, row := range []struct {
		name string
		r    transferResult
	}{{"MQTT chunked", mq}, {"HTTP range", ht}} {
		fmt.Printf("%-16s %10.1f %10.1f %10.1f\n", row.name, ms(row.r.median()), ms(row.r.times[0]), row.r.mbps(size))
	}
	fmt.Printf("%-16s %10.2f×\n", "MQTT / HTTP", ms(mq.median())/ms(ht.median()))
	fmt.Println()
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// startBenchBroker starts an embedded mochi broker on 127.0.0.1 (a free
// port) that lets any client in.
func startBenchBroker() (*mqtt.Server, string, error) {
	srv := mqtt.New(&mqtt.Options{InlineClient: true, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err := srv.AddHook(new(auth.AllowHook), nil); err != nil {
		return nil, "", err
	}
	ln := &loopbackListener{}
	if err := srv.AddListener(ln); err != nil {
		return nil, "", err
	}
	if err := srv.Serve(); err != nil {
		return nil, "", err
	}
	return srv, ln.ln.Addr().String(), nil
}

// serveChunks answers the bench device's transfer requests for any
// transfer id with chunks of data, from one goroutine it owns until stop.
func serveChunks(srv *mqtt.Server, data []byte) (stop func(), err error) {
	reqTopic, _ := fleet.Topic(benchDevice, fleet.KindTransferRequest)
	chunkTopic, _ := fleet.Topic(benchDevice, fleet.KindTransferChunks)
	reqs, quit := make(chan *fleet.TransferRequest, 64), make(chan struct{})
	err = srv.Subscribe(reqTopic, 1, func(_ *mqtt.Client, _ packets.Subscription, pk packets.Packet) {
		if r, err := fleet.DecodeTransferRequest(pk.Payload); err == nil {
			select {
			case reqs <- r:
			case <-quit:
			}
		}
	})
	if err != nil {
		return nil, err
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		total := fleet.ChunkCount(int64(len(data)), fleet.DefaultChunkSize)
		for {
			var r *fleet.TransferRequest
			select {
			case r = <-reqs:
			case <-quit:
				return
			}
			for i := r.FromChunk; i < min(r.FromChunk+r.Window, total); i++ {
				end := min((i+1)*fleet.DefaultChunkSize, len(data))
				payload, err := fleet.Encode(fleet.NewChunk(r.TransferID, i, total, data[i*fleet.DefaultChunkSize:end]))
				if err == nil {
					_ = srv.Publish(chunkTopic, payload, false, fleet.QoS)
				}
			}
		}
	}()
	return func() {
		_ = srv.Unsubscribe(reqTopic, 1)
		close(quit)
		<-done
	}, nil
}

// loopbackListener is a mochi TCP listener on 127.0.0.1:0.
type loopbackListener struct{ ln net.Listener }

func (l *loopbackListener) Init(*slog.Logger) (err error) {
	l.ln, err = net.Listen("tcp", "127.0.0.1:0")
	return err
}

func (l *loopbackListener) Serve(establish listeners.EstablishFn) {
	for {
		conn, err := l.ln.Accept()
		if err != nil {
			return
		}
		go func() { _ = establish("bench", conn) }()
	}
}

func (l *loopbackListener) ID() string       { return "bench" }
func (l *loopbackListener) Protocol() string { return "tcp" }
func (l *loopbackListener) Address() string  { return l.ln.Addr().String() }
func (l *loopbackListener) Close(closeClients listeners.CloseFn) {
	_ = l.ln.Close()
	closeClients("bench")
}
