//go:build !windows

package service

import "go.uber.org/zap"

// windowsService is the Windows service glue; elsewhere there is none.
type windowsService struct{}

func startWindowsService(string, func(), *zap.Logger) (*windowsService, error) { return nil, nil }

func (*windowsService) stopping()    {}
func (*windowsService) close(uint32) {}
