package worker

// CloseStdin and Wait reach into a Proc for the tests in worker_test,
// which play the real worker role (bench/loadclient imports this package,
// so those tests live outside it).
func (p *Proc) CloseStdin() error { return p.in.Close() }
func (p *Proc) Wait() error       { return p.cmd.Wait() }
