package main

import (
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/autocv/autocv/agent/config"
)

// newLogger builds the agent's logger: to stderr, in the configured level
// and format, sampled so a hot loop cannot flood the log.
func newLogger(c config.Serve) (*zap.Logger, error) {
	level, err := zapcore.ParseLevel(c.LogLevel)
	if err != nil {
		return nil, err
	}
	zc := zap.NewProductionConfig()
	zc.Level = zap.NewAtomicLevelAt(level)
	zc.Encoding = c.LogFormat
	zc.EncoderConfig.EncodeTime = zapcore.ISO8601TimeEncoder
	zc.EncoderConfig.EncodeDuration = zapcore.StringDurationEncoder
	if c.LogFormat == "console" {
		zc.EncoderConfig.EncodeLevel = zapcore.CapitalLevelEncoder
	}
	zc.DisableStacktrace = level > zapcore.DebugLevel
	return zc.Build()
}
