package wire

// Status is an NTSTATUS value.
type Status uint32

// NT status codes the server returns ([MS-ERREF] §2.3).
const (
	StatusOK                               Status = 0x00000000
	StatusPending                          Status = 0x00000103
	StatusNotifyCleanup                    Status = 0x0000010B
	StatusNotifyEnumDir                    Status = 0x0000010C
	StatusBufferOverflow                   Status = 0x80000005
	StatusNoMoreFiles                      Status = 0x80000006
	StatusUnsuccessful                     Status = 0xC0000001
	StatusNotImplemented                   Status = 0xC0000002
	StatusInvalidInfoClass                 Status = 0xC0000003
	StatusInfoLengthMismatch               Status = 0xC0000004
	StatusInvalidHandle                    Status = 0xC0000008
	StatusInvalidParameter                 Status = 0xC000000D
	StatusNoSuchDevice                     Status = 0xC000000E
	StatusNoSuchFile                       Status = 0xC000000F
	StatusInvalidDeviceRequest             Status = 0xC0000010
	StatusEndOfFile                        Status = 0xC0000011
	StatusMoreProcessingRequired           Status = 0xC0000016
	StatusNoMemory                         Status = 0xC0000017
	StatusAccessDenied                     Status = 0xC0000022
	StatusBufferTooSmall                   Status = 0xC0000023
	StatusObjectTypeMismatch               Status = 0xC0000024
	StatusObjectNameInvalid                Status = 0xC0000033
	StatusObjectNameNotFound               Status = 0xC0000034
	StatusObjectNameCollision              Status = 0xC0000035
	StatusObjectPathInvalid                Status = 0xC0000039
	StatusObjectPathNotFound               Status = 0xC000003A
	StatusObjectPathSyntaxBad              Status = 0xC000003B
	StatusSharingViolation                 Status = 0xC0000043
	StatusDeletePending                    Status = 0xC0000056
	StatusFileLockConflict                 Status = 0xC0000054
	StatusLockNotGranted                   Status = 0xC0000055
	StatusPrivilegeNotHeld                 Status = 0xC0000061
	StatusLogonFailure                     Status = 0xC000006D
	StatusAccountRestriction               Status = 0xC000006E
	StatusAccountDisabled                  Status = 0xC0000072
	StatusRangeNotLocked                   Status = 0xC000007E
	StatusDiskFull                         Status = 0xC000007F
	StatusFileInvalid                      Status = 0xC0000098
	StatusInsufficientResources            Status = 0xC000009A
	StatusFileIsADirectory                 Status = 0xC00000BA
	StatusNotSupported                     Status = 0xC00000BB
	StatusNetworkNameDeleted               Status = 0xC00000C9
	StatusBadNetworkName                   Status = 0xC00000CC
	StatusRequestNotAccepted               Status = 0xC00000D0
	StatusNotSameDevice                    Status = 0xC00000D4
	StatusFileRenamed                      Status = 0xC00000D5
	StatusInternalError                    Status = 0xC00000E5
	StatusDirectoryNotEmpty                Status = 0xC0000101
	StatusNotADirectory                    Status = 0xC0000103
	StatusCancelled                        Status = 0xC0000120
	StatusCannotDelete                     Status = 0xC0000121
	StatusFileClosed                       Status = 0xC0000128
	StatusUserSessionDeleted               Status = 0xC0000203
	StatusInvalidLockRange                 Status = 0xC00001A1
	StatusNetworkSessionExpired            Status = 0xC000035C
	StatusRequestOutOfSequence             Status = 0xC000042A
	StatusFileNotAvailable                 Status = 0xC0000467
	StatusDuplicateObjectID                Status = 0xC000022A
	StatusInvalidOplockProtocol            Status = 0xC00000E3
	StatusStoppedOnSymlink                 Status = 0x8000002D
	StatusFileSystemLimitation             Status = 0xC0000427
	StatusIOTimeout                        Status = 0xC00000B5
	StatusPipeBroken                       Status = 0xC000014B
	StatusPipeEmpty                        Status = 0xC00000D9
	StatusPipeDisconnected                 Status = 0xC00000B0
	StatusInvalidNetworkResponse           Status = 0xC00000C3
	StatusNoSuchUser                       Status = 0xC0000064
	StatusWrongPassword                    Status = 0xC000006A
	StatusNameTooLong                      Status = 0xC0000106
	StatusMediaWriteProtected              Status = 0xC00000A2
	StatusInvalidDeviceState               Status = 0xC0000184
	StatusEAsNotSupported                  Status = 0xC000004F
	StatusInvalidSecurityDescriptor        Status = 0xC0000079
	StatusNoEasOnFile                      Status = 0xC0000052
	StatusSMBNoPreauthIntegrityHashOverlap Status = 0xC05D0000
)

// IsError reports whether s has error severity.
func (s Status) IsError() bool { return s>>30 == 3 }

func (s Status) String() string {
	return "NTSTATUS 0x" + hex32(uint32(s))
}

func hex32(v uint32) string {
	const digits = "0123456789ABCDEF"
	var b [8]byte
	for i := 7; i >= 0; i-- {
		b[i] = digits[v&0xF]
		v >>= 4
	}
	return string(b[:])
}

// Error lets a Status travel as an error.
func (s Status) Error() string { return s.String() }
