// rkt-run-prepared's fast path: see fast.go for what it does and why.
// Nothing here may touch the Go runtime: entry runs before it exists.

#include "go_asm.h"
#include "textflag.h"

#define SYS_read 0
#define SYS_open 2
#define SYS_close 3
#define SYS_fstat 5
#define SYS_execve 59
#define SYS_chdir 80
#define SYS_rename 82
#define SYS_geteuid 107
#define SYS_mount 165
#define SYS_unshare 272
#define SYS_prctl 157

#define PR_SET_TIMERSLACK 29

#define O_RDONLY_CLOEXEC 0x80000
#define EINVAL 22

// entry's frame: validate's arguments and result, then a struct stat.
#define statOff 24
#define frame (statOff+144)

// "RKTPLAN1", little-endian.
#define MAGIC $0x314e414c50544b52

DATA	flagPrefix<>+0(SB)/8, $"--run-pl"
DATA	flagPrefix<>+8(SB)/3, $"an="
GLOBL	flagPrefix<>(SB), RODATA, $11
#define flagPrefixLen 11

// PTR loads a string argument of the record at R14 into reg: nil, or the
// plan's address (R13) plus the offset.
#define PTR(off, reg) \
	MOVQ	off(R14), reg; \
	TESTQ	reg, reg; \
	JEQ	2(PC); \
	ADDQ	R13, reg

// func entry()
// The kernel leaves argc at 0(SP), argv from 8(SP), a nil pointer, then
// envp. Registers: R12 that stack, R13 the plan, R14 the record being
// carried out; the rest are scratch. Every way out restores SP before it
// jumps to the runtime's entry point, which so never sees this function.
TEXT ·entry(SB), NOSPLIT|NOFRAME, $0-0
	MOVQ	SP, R12
	SUBQ	$frame, SP
	CMPQ	0(R12), $2
	JLT	runtime
	MOVQ	16(R12), SI            // argv[1]
	LEAQ	flagPrefix<>(SB), DI
	MOVQ	$flagPrefixLen, CX
prefix:
	MOVBLZX	(SI), AX
	CMPB	AL, (DI)
	JNE	runtime
	INCQ	SI
	INCQ	DI
	DECQ	CX
	JNZ	prefix

	MOVL	$SYS_geteuid, AX
	SYSCALL
	TESTQ	AX, AX
	JNZ	runtime                // the Go path refuses non-root users

	MOVQ	SI, DI
	MOVL	$O_RDONLY_CLOEXEC, SI
	XORL	DX, DX
	MOVL	$SYS_open, AX
	SYSCALL
	TESTQ	AX, AX
	JMI	runtime
	MOVQ	AX, R13                // the plan's fd, until it is closed

	MOVQ	R13, DI
	LEAQ	statOff(SP), SI
	MOVL	$SYS_fstat, AX
	SYSCALL
	TESTQ	AX, AX
	JMI	close
	MOVL	(statOff+24)(SP), AX   // st_mode
	MOVL	AX, BX
	ANDL	$0xf000, BX
	CMPL	BX, $0x8000
	JNE	close                  // not a regular file
	TESTL	$0x12, AX
	JNZ	close                  // writable by its group or others
	MOVL	(statOff+28)(SP), AX   // st_uid
	TESTL	AX, AX
	JNZ	close                  // not root's

	XORQ	R14, R14               // bytes read
read:
	MOVQ	R13, DI
	LEAQ	·fastBuf(SB), SI
	ADDQ	R14, SI
	MOVQ	$(const_MaxSize+1), DX
	SUBQ	R14, DX
	JEQ	close                  // larger than MaxSize
	MOVL	$SYS_read, AX
	SYSCALL
	TESTQ	AX, AX
	JMI	close
	JEQ	readAll
	ADDQ	AX, R14
	JMP	read
readAll:
	MOVQ	R13, DI
	MOVL	$SYS_close, AX
	SYSCALL
	MOVQ	R14, ·fastSize(SB)

	LEAQ	·fastBuf(SB), AX
	MOVQ	AX, 0(SP)
	MOVQ	R14, 8(SP)
	CALL	·validate(SB)
	CMPB	16(SP), $0
	JEQ	runtime

	// The environment must fit in fastPtrs with the lock's variable.
	MOVQ	0(R12), AX
	LEAQ	16(R12)(AX*8), SI
	XORL	CX, CX
count:
	CMPQ	(SI)(CX*8), $0
	JEQ	counted
	INCQ	CX
	CMPQ	CX, $const_fastMaxEnv
	JGT	runtime
	JMP	count
counted:

	// From here on, steps are made: a failure is recorded, not ignored.
	LEAQ	·fastBuf(SB), R13
	LEAQ	const_headerSize(R13), R14
step:
	MOVQ	0(R14), AX
	CMPQ	AX, $const_OpRename
	JEQ	rename
	CMPQ	AX, $const_OpUnshare
	JEQ	unshare
	CMPQ	AX, $const_OpMount
	JEQ	mount
	CMPQ	AX, $const_OpChdir
	JEQ	chdir
	CMPQ	AX, $const_OpTimerSlack
	JEQ	slack
	JMP	exec                   // validate: the last step, and only it
next:
	ADDQ	$const_recordSize, R14
	JMP	step

rename:
	PTR(8, DI)
	PTR(16, SI)
	MOVL	$SYS_rename, AX
	SYSCALL
	JMP	check

unshare:
	MOVQ	8(R14), DI
	MOVL	$SYS_unshare, AX
	SYSCALL
	JMP	check

mount:
	PTR(8, DI)
	PTR(16, SI)
	PTR(24, DX)
	MOVQ	32(R14), R10
	PTR(40, R8)
	XORL	R9, R9
	MOVL	$SYS_mount, AX
	SYSCALL
	CMPQ	AX, $-EINVAL
	JNE	check
	CMPQ	48(R14), $0
	JEQ	check                  // no other data to try
	PTR(8, DI)
	PTR(16, SI)
	PTR(24, DX)
	MOVQ	32(R14), R10
	PTR(48, R8)
	XORL	R9, R9
	MOVL	$SYS_mount, AX
	SYSCALL
	JMP	check

chdir:
	PTR(8, DI)
	MOVL	$SYS_chdir, AX
	SYSCALL
	JMP	check

slack:
	MOVL	$PR_SET_TIMERSLACK, DI
	MOVQ	8(R14), SI
	XORL	DX, DX
	XORL	R10, R10
	XORL	R8, R8
	MOVL	$SYS_prctl, AX
	SYSCALL
	JMP	check

check:
	TESTQ	AX, AX
	JMI	failed
	JMP	next

exec:
	// argv: the plan's offsets made pointers, then nil.
	LEAQ	·fastPtrs(SB), BX
	MOVQ	16(R14), SI
	ADDQ	R13, SI
argv:
	MOVQ	(SI), AX
	TESTQ	AX, AX
	JEQ	argvEnd
	ADDQ	R13, AX
	MOVQ	AX, (BX)
	ADDQ	$8, BX
	ADDQ	$8, SI
	JMP	argv
argvEnd:
	MOVQ	$0, (BX)
	ADDQ	$8, BX
	MOVQ	BX, R9                 // envp
	PTR(24, R10)                   // NAME=VALUE
	PTR(32, R11)                   // another, or nil
	MOVQ	0(R12), AX
	LEAQ	16(R12)(AX*8), SI
env:
	MOVQ	(SI), DI
	TESTQ	DI, DI
	JEQ	envEnd
	ADDQ	$8, SI
	MOVQ	R10, DX
	CALL	sameName<>(SB)
	JEQ	env                    // NAME= again: replaced
	TESTQ	R11, R11
	JEQ	keep
	MOVQ	-8(SI), DI
	MOVQ	R11, DX
	CALL	sameName<>(SB)
	JEQ	env
keep:
	MOVQ	-8(SI), AX
	MOVQ	AX, (BX)
	ADDQ	$8, BX
	JMP	env
envEnd:
	MOVQ	R10, (BX)
	ADDQ	$8, BX
	TESTQ	R11, R11
	JEQ	envDone
	MOVQ	R11, (BX)
	ADDQ	$8, BX
envDone:
	MOVQ	$0, (BX)
	PTR(8, DI)
	LEAQ	·fastPtrs(SB), SI
	MOVQ	R9, DX
	MOVL	$SYS_execve, AX
	SYSCALL
	// Only a failed execve returns.

failed:
	NEGQ	AX
	MOVQ	AX, ·fastErrno(SB)
	MOVQ	R14, AX
	SUBQ	R13, AX
	SUBQ	$const_headerSize, AX
	SHRQ	$6, AX                 // recordSize is 64
	INCQ	AX
	MOVQ	AX, ·fastFailed(SB)
	JMP	runtime

close:
	MOVQ	R13, DI
	MOVL	$SYS_close, AX
	SYSCALL
runtime:
	ADDQ	$frame, SP
	JMP	_rt0_amd64_linux(SB)

// sameName compares the environment string at DI with the NAME=VALUE
// at DX up to its '=': ZF set when they name the same variable.
// Clobbers AX, DI, DX.
TEXT sameName<>(SB), NOSPLIT|NOFRAME, $0-0
nameByte:
	MOVBLZX	(DX), AX
	CMPB	AL, (DI)
	JNE	differ
	CMPB	AL, $'='
	JEQ	same
	INCQ	DX
	INCQ	DI
	JMP	nameByte
same:
	CMPQ	AX, AX                 // ZF set
	RET
differ:
	RET                            // ZF clear (CMPB above)

// NONNIL checks that the argument at off of the record at R8 is the
// offset of a string: not 0, inside the plan (n bytes, R10). It leaves
// the offset in AX.
#define NONNIL(off) \
	MOVQ	off(R8), AX; \
	TESTQ	AX, AX; \
	JEQ	done; \
	CMPQ	AX, R10; \
	JCC	done

// STR is NONNIL that also takes 0, a nil pointer.
#define STR(off) \
	MOVQ	off(R8), AX; \
	CMPQ	AX, R10; \
	JCC	done

// isEntry reports in AX (1 or 0) whether the string at SI is an
// environment entry NAME=VALUE: a name, not empty, then '=' before the
// NUL. Clobbers SI.
TEXT isEntry<>(SB), NOSPLIT|NOFRAME, $0-0
	MOVBLZX	(SI), AX
	CMPB	AL, $'='
	JEQ	notEntry
	TESTB	AL, AL
	JEQ	notEntry
entryByte:
	INCQ	SI
	MOVBLZX	(SI), AX
	CMPB	AL, $'='
	JEQ	entry
	TESTB	AL, AL
	JNE	entryByte
notEntry:
	XORL	AX, AX
	RET
entry:
	MOVL	$1, AX
	RET

// func validate(buf *byte, n int) bool
// Registers: R9 the plan, R10 its size, R8 the record being checked,
// R11 the records left to check.
TEXT ·validate(SB), NOSPLIT, $0-17
	MOVQ	buf+0(FP), R9
	MOVQ	n+8(FP), R10
	MOVB	$0, ret+16(FP)
	CMPQ	R10, $(const_headerSize+const_recordSize+1)
	JLT	done
	CMPQ	R10, $const_MaxSize
	JGT	done
	MOVQ	MAGIC, AX
	CMPQ	AX, 0(R9)
	JNE	done
	CMPQ	8(R9), R10
	JNE	done
	CMPB	-1(R9)(R10*1), $0
	JNE	done
	MOVQ	16(R9), R11
	TESTQ	R11, R11
	JEQ	done
	MOVQ	R10, AX
	SUBQ	$const_headerSize, AX
	SHRQ	$6, AX
	CMPQ	R11, AX
	JHI	done                   // the records do not fit
	LEAQ	const_headerSize(R9), R8
record:
	MOVQ	0(R8), AX
	CMPQ	R11, $1
	JEQ	last
	CMPQ	AX, $const_OpRename
	JEQ	checkRename
	CMPQ	AX, $const_OpUnshare
	JEQ	nextRecord
	CMPQ	AX, $const_OpMount
	JEQ	checkMount
	CMPQ	AX, $const_OpChdir
	JEQ	checkChdir
	CMPQ	AX, $const_OpTimerSlack
	JEQ	nextRecord
	JMP	done                   // an exec before the last, or unknown
checkRename:
	NONNIL(8)
	NONNIL(16)
	JMP	nextRecord
checkMount:
	STR(8)
	NONNIL(16)
	STR(24)
	STR(40)
	STR(48)
	JMP	nextRecord
checkChdir:
	NONNIL(8)
nextRecord:
	ADDQ	$const_recordSize, R8
	DECQ	R11
	JMP	record

last:
	CMPQ	AX, $const_OpExec
	JNE	done
	NONNIL(8)
	NONNIL(24)
	LEAQ	(R9)(AX*1), SI
	CALL	isEntry<>(SB)
	TESTQ	AX, AX
	JEQ	done
	// The second entry: nil, or NAME=VALUE too.
	STR(32)
	TESTQ	AX, AX
	JEQ	checkArgv
	LEAQ	(R9)(AX*1), SI
	CALL	isEntry<>(SB)
	TESTQ	AX, AX
	JEQ	done
checkArgv:
	// An array of offsets inside the plan, aligned, ending with 0,
	// of 1 to MaxArgs strings.
	MOVQ	16(R8), SI
	TESTQ	SI, SI
	JEQ	done
	TESTQ	$7, SI
	JNE	done
	XORL	CX, CX
	MOVQ	R10, DX
	SUBQ	$8, DX
arg:
	CMPQ	SI, DX
	JHI	done
	MOVQ	(R9)(SI*1), AX
	TESTQ	AX, AX
	JEQ	args
	CMPQ	AX, R10
	JCC	done
	CMPQ	CX, $const_MaxArgs
	JEQ	done
	INCQ	CX
	ADDQ	$8, SI
	JMP	arg
args:
	TESTQ	CX, CX
	JEQ	done
	MOVB	$1, ret+16(FP)
done:
	RET
