//go:build !linux

package poller

// Off Linux no engine exists (engines_other.go), so no Conn has a pollfd:
// NewTestConn's connections queue what would block and never flush.

func (c *Conn) arm() error { return nil }
func (c *Conn) disarm()    {}
func (c *Conn) unwatch()   {}

func kernelUnsent(int32) int { return 0 }

// PauseRead, ResumeRead and Paused: no engine, nothing to pause.
func (c *Conn) PauseRead()   {}
func (c *Conn) ResumeRead()  {}
func (c *Conn) Paused() bool { return false }
