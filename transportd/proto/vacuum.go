package proto

// Vacuum family: the vacuum service (ServiceVacuum) of each node, which
// vacuums that node's databases one at a time, in small batches, every
// VacuumInterval (a full scan every VacuumFastPathCount runs), through
// the database service's OpVacuumScan, OpVacuumDelete and
// OpVacuumCompact.
const (
	// OpVacuumRun vacuums now (VacuumRequest) and answers with a
	// VacuumReport once done.
	OpVacuumRun = FamilyVacuum | 0x0001
	// OpVacuumStatus answers with the vacuum service's Statistics
	// (counters "runs", "fast_runs", "full_runs", "deleted", "skipped",
	// "failed", "compactions", "bytes_freed"; latency "vacuum_latency").
	OpVacuumStatus = FamilyVacuum | 0x0002
)

var vacuumOpcodeNames = map[Opcode]string{
	OpVacuumRun:    "vacuum_run",
	OpVacuumStatus: "vacuum_status",
}

// VacuumRequest asks for a vacuum run of one database (DBID 0: every
// database); Flags are VacuumFull and VacuumForce (compact whatever the
// share of free space).
type VacuumRequest struct {
	DBID  uint32
	Flags uint32
}

// AppendTo encodes v.
func (v *VacuumRequest) AppendTo(b []byte) []byte {
	b = AppendU32(b, v.DBID)
	return AppendU32(b, v.Flags)
}

// DecodeFrom decodes v.
func (v *VacuumRequest) DecodeFrom(d *Decoder) {
	v.DBID = d.U32()
	v.Flags = d.U32()
}

// VacuumDBReport is what one vacuum run did to one database.
type VacuumDBReport struct {
	DBID       uint32
	Candidates uint32
	Deleted    uint32
	Skipped    uint32
	Failed     uint32
	Compacted  bool
	SizeBefore uint64
	SizeAfter  uint64
}

const vacuumDBReportSize = 4*5 + 1 + 8*2

// VacuumReport answers OpVacuumRun.
type VacuumReport struct {
	DBs []VacuumDBReport
}

// AppendTo encodes v.
func (v *VacuumReport) AppendTo(b []byte) []byte {
	b = AppendU32(b, uint32(len(v.DBs)))
	for _, r := range v.DBs {
		b = AppendU32(b, r.DBID)
		b = AppendU32(b, r.Candidates)
		b = AppendU32(b, r.Deleted)
		b = AppendU32(b, r.Skipped)
		b = AppendU32(b, r.Failed)
		b = AppendBool(b, r.Compacted)
		b = AppendU64(b, r.SizeBefore)
		b = AppendU64(b, r.SizeAfter)
	}
	return b
}

// DecodeFrom decodes v.
func (v *VacuumReport) DecodeFrom(d *Decoder) {
	n := d.Count(vacuumDBReportSize)
	v.DBs = make([]VacuumDBReport, n)
	for i := range v.DBs {
		r := &v.DBs[i]
		r.DBID = d.U32()
		r.Candidates = d.U32()
		r.Deleted = d.U32()
		r.Skipped = d.U32()
		r.Failed = d.U32()
		r.Compacted = d.Bool()
		r.SizeBefore = d.U64()
		r.SizeAfter = d.U64()
	}
}
