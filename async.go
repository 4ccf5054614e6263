package holdfast

import "context"

// A Pending is a write submitted without waiting for its outcome. Writes
// submitted one after another from one goroutine are applied in that
// order, and those submitted before the writer takes the next group share
// it: a connection that pipelines its writes (a Redis client with -P 16,
// say) pays for one fdatasync, not one per write. Every Pending must be
// waited for; until then it holds a quiesce open.
//
// A read issued after PutAsync returns may not see the write yet: wait
// for it first.
type Pending struct {
	ds   *Dataspace
	r    *request
	err  error // the outcome, once known (at once when submitting failed)
	res  Result
	done bool
}

// Result is the outcome of a write submitted with PutAsync, DeleteAsync,
// IncrAsync or ApplyAsync.
type Result struct {
	Seq     uint64 // the write's sequence number (0 when nothing was written)
	Existed bool   // DeleteAsync: the key existed
	Int     int64  // IncrAsync: the new value
	Dup     bool   // a retried request id, applied earlier and not again
}

// Wait returns the write's outcome, with the same errors as the waiting
// form of the call. Later calls return the same.
func (p *Pending) Wait() (Result, error) {
	if !p.done && p.err == nil {
		rep, err := p.ds.await(p.r)
		p.res, p.err = Result{Seq: rep.seq, Existed: rep.existed, Int: rep.intValue, Dup: rep.dup}, err
	}
	p.done = true
	return p.res, p.err
}

func (ds *Dataspace) pending(ctx context.Context, r *request, err error) *Pending {
	if err != nil {
		return &Pending{err: err}
	}
	return &Pending{ds: ds, r: r, err: ds.send(ctx, r)}
}

// PutAsync is Put without waiting; see Pending.
func (ds *Dataspace) PutAsync(ctx context.Context, key, value []byte, opts ...WriteOption) *Pending {
	r, err := ds.putRequest(key, value, opts)
	return ds.pending(ctx, r, err)
}

// DeleteAsync is Delete without waiting; see Pending.
func (ds *Dataspace) DeleteAsync(ctx context.Context, key []byte, opts ...WriteOption) *Pending {
	r, err := ds.deleteRequest(key, opts)
	return ds.pending(ctx, r, err)
}

// ApplyAsync is Apply without waiting; see Pending.
func (ds *Dataspace) ApplyAsync(ctx context.Context, b *Batch, opts ...WriteOption) *Pending {
	r, err := ds.batchRequest(b, opts)
	return ds.pending(ctx, r, err)
}

// IncrAsync is Incr without waiting; see Pending.
func (ds *Dataspace) IncrAsync(ctx context.Context, key []byte, delta int64, opts ...WriteOption) *Pending {
	r, err := ds.incrRequest(key, delta, opts)
	return ds.pending(ctx, r, err)
}
