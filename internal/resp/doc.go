// Package resp is holdfast's Redis protocol (RESP2 and RESP3) front end:
// a request reader, a reply writer, a connection server and the binding
// of the Redis commands to the engine.
//
// The path of a request: Server accepts a connection and runs one
// goroutine for it; Reader parses one command (an array of bulk strings,
// or an inline line as telnet and redis-cli's interactive mode send);
// the Handler executes it and writes the reply into a Writer; the server
// flushes the Writer once the client has no more pipelined commands
// waiting, so a pipeline's replies leave in one write. A connection runs
// its commands one at a time, in order; a client that pipelines without
// reading replies is held back by TCP flow control.
//
// A malformed or oversize request is a *ProtocolError: the client gets
// its text ("ERR Protocol error: invalid bulk length", Redis's wording)
// and the connection is closed, as Redis does, because the framing is
// lost. The server and the other connections are unaffected.
//
// # Commands (DBHandler)
//
// PING, ECHO, HELLO [2|3] [AUTH user pass] [SETNAME name], AUTH,
// QUIT, SELECT <name|index>, GET, SET [NX|XX] [GET] [KEEPTTL], DEL,
// EXISTS, MGET, MSET, INCR, INCRBY, DECR, DECRBY, SCAN cursor [MATCH]
// [COUNT] [TYPE], DBSIZE, INFO [section ...], CONFIG GET, CLIENT
// SETNAME|GETNAME|ID|INFO|SETINFO, COMMAND [COUNT|DOCS|INFO].
//
// Where holdfast differs from Redis:
//
//   - SELECT picks a dataspace: a name, or an index into the sorted
//     names (a dataspace whose name is a number is found by name first).
//   - SET's EX, PX, EXAT and PXAT are refused with "ERR holdfast does not
//     support key expiry ...": keys never expire, and silently dropping
//     an expiry would keep data the client meant to vanish. KEEPTTL is
//     accepted (there is no TTL to keep).
//   - SCAN's cursor is the hex of the last key returned (opaque to
//     clients); keys come in byte order, each key present throughout the
//     scan exactly once.
//   - Pipelined writes share commit groups: a run of consecutive SET
//     (without GET), MSET, DEL, INCR, DECR, INCRBY and DECRBY commands
//     already buffered on a connection is submitted to the engine without
//     waiting, in order, and the replies are written as the outcomes
//     arrive, so the run pays one fdatasync or a few instead of one each.
//     Each command keeps its own semantics and reply, as if run alone;
//     no reply leaves before its write is durable. Any other command ends
//     the run and executes after it, in pipeline order (BatchHandler).
//   - A multi-key DEL deletes each key durably but not atomically; MSET
//     is atomic (one engine batch); MGET and EXISTS read key by key, not
//     from one snapshot.
//   - Engine failures have their own error codes: IOERR (dataspace
//     fail-stopped after an I/O error), CORRUPT (stored data failed
//     verification) and OUTCOMEUNKNOWN (the write may or may not be
//     applied). Any other error means the write was not applied; a
//     multi-key DEL's error adds that other keys may have been deleted.
//
// Under sync=always a write command's reply is sent only after the
// engine reports the write on stable storage.
package resp
