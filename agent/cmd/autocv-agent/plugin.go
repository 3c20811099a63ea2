package main

import (
	"context"

	"go.uber.org/zap"

	"github.com/autocv/autocv/agent/config"
	"github.com/autocv/autocv/agent/runner"
	"github.com/autocv/autocv/plugins/host"
)

// choosePlugin decides once, at start, which plugin serves: the one the
// plugin setting names, or for "auto" onnx-cuda when the onnxruntime
// library carries CUDA, else onnx-cpu (runner.ChooseAuto). The runner
// keeps the choice for every restart and swap. With probe, an explicit
// setting is also started once to learn the library's execution
// providers, which run mode reports before any model is deployed. hc is
// returned with the chosen Name.
func choosePlugin(ctx context.Context, setting string, hc host.Config, probe bool, log *zap.Logger) (runner.Choice, host.Config) {
	var c runner.Choice
	if setting == config.PluginAuto {
		c = runner.ChooseAuto(ctx, hc)
	} else {
		c = runner.Choice{Plugin: setting, Reason: "named by the plugin setting"}
		if probe {
			providers, err := runner.Probe(ctx, setting, hc)
			if err != nil {
				log.Warn("the inference plugin did not start to say what the onnxruntime library carries", zap.String("plugin", setting), zap.Error(err))
			}
			c.Providers = providers
		}
	}
	log.Info("inference plugin chosen: "+c.Reason, zap.String("plugin", c.Plugin), zap.String("setting", setting),
		zap.String("load_provider", c.ExecutionProvider), zap.Strings("runtime_providers", c.Providers))
	hc.Name = c.Plugin
	return c, hc
}
