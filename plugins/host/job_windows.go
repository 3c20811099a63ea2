//go:build windows

package host

import (
	"sync"
	"unsafe"

	"golang.org/x/sys/windows"
)

// On Windows an orphaned process keeps its parent's pid, so the plugin's
// parent watch cannot notice a crashed host. Every plugin is put in one job
// object that kills its members when its last handle closes: when the host
// process dies, for any reason, Windows ends its plugins.
var (
	jobOnce sync.Once
	job     windows.Handle
	jobErr  error
)

func bindToHost(pid int) error {
	jobOnce.Do(func() {
		job, jobErr = windows.CreateJobObject(nil, nil)
		if jobErr != nil {
			return
		}
		info := windows.JOBOBJECT_EXTENDED_LIMIT_INFORMATION{
			BasicLimitInformation: windows.JOBOBJECT_BASIC_LIMIT_INFORMATION{
				LimitFlags: windows.JOB_OBJECT_LIMIT_KILL_ON_JOB_CLOSE,
			},
		}
		_, jobErr = windows.SetInformationJobObject(job, windows.JobObjectExtendedLimitInformation,
			uintptr(unsafe.Pointer(&info)), uint32(unsafe.Sizeof(info)))
	})
	if jobErr != nil {
		return jobErr
	}
	h, err := windows.OpenProcess(windows.PROCESS_SET_QUOTA|windows.PROCESS_TERMINATE, false, uint32(pid))
	if err != nil {
		return err
	}
	defer windows.CloseHandle(h)
	return windows.AssignProcessToJobObject(job, h)
}
