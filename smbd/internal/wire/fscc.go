package wire

// File attributes ([MS-FSCC] §2.6).
const (
	AttrReadonly          uint32 = 0x00000001
	AttrHidden            uint32 = 0x00000002
	AttrSystem            uint32 = 0x00000004
	AttrDirectory         uint32 = 0x00000010
	AttrArchive           uint32 = 0x00000020
	AttrNormal            uint32 = 0x00000080
	AttrTemporary         uint32 = 0x00000100
	AttrSparse            uint32 = 0x00000200
	AttrReparsePoint      uint32 = 0x00000400
	AttrCompressed        uint32 = 0x00000800
	AttrOffline           uint32 = 0x00001000
	AttrNotContentIndexed uint32 = 0x00002000
	AttrEncrypted         uint32 = 0x00004000
	AttrIntegrityStream   uint32 = 0x00008000
	AttrNoScrubData       uint32 = 0x00020000
	// AttrValidSet are the attributes a client may set.
	AttrValidSet = AttrReadonly | AttrHidden | AttrSystem | AttrArchive | AttrNormal |
		AttrTemporary | AttrOffline | AttrNotContentIndexed | AttrNoScrubData | AttrDirectory |
		AttrSparse | AttrReparsePoint | AttrCompressed | AttrEncrypted | AttrIntegrityStream
)

// Access mask bits ([MS-SMB2] §2.2.13.1).
const (
	FileReadData         uint32 = 0x00000001
	FileWriteData        uint32 = 0x00000002
	FileAppendData       uint32 = 0x00000004
	FileReadEA           uint32 = 0x00000008
	FileWriteEA          uint32 = 0x00000010
	FileExecute          uint32 = 0x00000020
	FileDeleteChild      uint32 = 0x00000040
	FileReadAttributes   uint32 = 0x00000080
	FileWriteAttributes  uint32 = 0x00000100
	Delete               uint32 = 0x00010000
	ReadControl          uint32 = 0x00020000
	WriteDAC             uint32 = 0x00040000
	WriteOwner           uint32 = 0x00080000
	Synchronize          uint32 = 0x00100000
	AccessSystemSecurity uint32 = 0x01000000
	MaximumAllowed       uint32 = 0x02000000
	GenericAll           uint32 = 0x10000000
	GenericExecute       uint32 = 0x20000000
	GenericWrite         uint32 = 0x40000000
	GenericRead          uint32 = 0x80000000

	// FileAllAccess is the full specific+standard rights mask.
	FileAllAccess      uint32 = 0x001F01FF
	FileGenericRead           = ReadControl | FileReadData | FileReadAttributes | FileReadEA | Synchronize
	FileGenericWrite          = ReadControl | FileWriteData | FileWriteAttributes | FileWriteEA | FileAppendData | Synchronize
	FileGenericExecute        = ReadControl | FileReadAttributes | FileExecute | Synchronize
)

// Share access bits.
const (
	ShareRead   uint32 = 0x1
	ShareWrite  uint32 = 0x2
	ShareDelete uint32 = 0x4
)

// Create dispositions.
const (
	FileSupersede   uint32 = 0
	FileOpen        uint32 = 1
	FileCreate      uint32 = 2
	FileOpenIf      uint32 = 3
	FileOverwrite   uint32 = 4
	FileOverwriteIf uint32 = 5
)

// Create actions.
const (
	FileSuperseded  uint32 = 0
	FileOpened      uint32 = 1
	FileCreated     uint32 = 2
	FileOverwritten uint32 = 3
)

// Create options.
const (
	OptDirectoryFile           uint32 = 0x00000001
	OptWriteThrough            uint32 = 0x00000002
	OptSequentialOnly          uint32 = 0x00000004
	OptNoIntermediateBuffering uint32 = 0x00000008
	OptSynchronousIOAlert      uint32 = 0x00000010
	OptSynchronousIONonalert   uint32 = 0x00000020
	OptNonDirectoryFile        uint32 = 0x00000040
	OptCompleteIfOplocked      uint32 = 0x00000100
	OptNoEAKnowledge           uint32 = 0x00000200
	OptRandomAccess            uint32 = 0x00000800
	OptDeleteOnClose           uint32 = 0x00001000
	OptOpenByFileID            uint32 = 0x00002000
	OptOpenForBackupIntent     uint32 = 0x00004000
	OptNoCompression           uint32 = 0x00008000
	OptReserveOpfilter         uint32 = 0x00100000
	OptOpenReparsePoint        uint32 = 0x00200000
	OptOpenNoRecall            uint32 = 0x00400000
	OptOpenForFreeSpaceQuery   uint32 = 0x00800000
)

// File information classes ([MS-FSCC] §2.4).
const (
	FileDirectoryInformation       uint8 = 1
	FileFullDirectoryInformation   uint8 = 2
	FileBothDirectoryInformation   uint8 = 3
	FileBasicInformation           uint8 = 4
	FileStandardInformation        uint8 = 5
	FileInternalInformation        uint8 = 6
	FileEaInformation              uint8 = 7
	FileAccessInformation          uint8 = 8
	FileNameInformation            uint8 = 9
	FileRenameInformation          uint8 = 10
	FileLinkInformation            uint8 = 11
	FileNamesInformation           uint8 = 12
	FileDispositionInformation     uint8 = 13
	FilePositionInformation        uint8 = 14
	FileFullEaInformation          uint8 = 15
	FileModeInformation            uint8 = 16
	FileAlignmentInformation       uint8 = 17
	FileAllInformation             uint8 = 18
	FileAllocationInformation      uint8 = 19
	FileEndOfFileInformation       uint8 = 20
	FileAlternateNameInformation   uint8 = 21
	FileStreamInformation          uint8 = 22
	FileCompressionInformation     uint8 = 28
	FileNetworkOpenInformation     uint8 = 34
	FileAttributeTagInformation    uint8 = 35
	FileIDBothDirectoryInformation uint8 = 37
	FileIDFullDirectoryInformation uint8 = 38
	FileValidDataLengthInformation uint8 = 39
	FileNormalizedNameInformation  uint8 = 48
	FileDispositionInformationEx   uint8 = 64
	FileRenameInformationEx        uint8 = 65
)

// Filesystem information classes ([MS-FSCC] §2.5).
const (
	FileFsVolumeInformation     uint8 = 1
	FileFsLabelInformation      uint8 = 2
	FileFsSizeInformation       uint8 = 3
	FileFsDeviceInformation     uint8 = 4
	FileFsAttributeInformation  uint8 = 5
	FileFsControlInformation    uint8 = 6
	FileFsFullSizeInformation   uint8 = 7
	FileFsObjectIDInformation   uint8 = 8
	FileFsSectorSizeInformation uint8 = 11
)

// Filesystem attribute flags ([MS-FSCC] §2.5.1).
const (
	FSCaseSensitiveSearch uint32 = 0x00000001
	FSCasePreservedNames  uint32 = 0x00000002
	FSUnicodeOnDisk       uint32 = 0x00000004
	FSPersistentACLs      uint32 = 0x00000008
	FSSupportsSparseFiles uint32 = 0x00000040
	FSSupportsObjectIDs   uint32 = 0x00010000
	FSNamedStreams        uint32 = 0x00040000
)
