//go:build !linux

package holdfast

import (
	"errors"
	"io"

	"github.com/holdfast-db/holdfast/vfs"
)

func freezeFS(vfs.FS, string) (io.Closer, error) {
	return nil, errors.New("fsfreeze is supported on Linux only")
}
