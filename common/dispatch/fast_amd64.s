// The dispatcher's fast path: see fast.go for what it does and why.
// Nothing here may touch the Go runtime: entry runs before it exists.

#include "go_asm.h"
#include "textflag.h"

#define SYS_execve 59
#define SYS_prctl 157

#define PR_SET_TIMERSLACK 29
#define PR_GET_TIMERSLACK 30

// "rkt-run" and its NUL, little-endian: the argv[0] of `rkt run`.
#define RKTRUN $0x006e75722d746b72

DATA	slackName<>+0(SB)/8, $"RKT_TIME"
DATA	slackName<>+8(SB)/8, $"R_SLACK="
GLOBL	slackName<>(SB), RODATA, $16
#define slackNameLen 16

// The frame entry gives plan: its four arguments and result, then out.
#define planArgs 40
#define entryFrame (planArgs+fastExec__size)

// func entry()
// The kernel leaves argc at 0(SP), argv from 8(SP), a nil pointer, then
// envp. Jumping to the runtime's entry point with SP as it was makes
// this function invisible to it.
TEXT ·entry(SB), NOSPLIT|NOFRAME, $0-0
	MOVQ	SP, R8
	MOVQ	0(R8), AX              // argc
	LEAQ	8(R8), BX              // argv
	LEAQ	16(R8)(AX*8), CX       // envp
	SUBQ	$entryFrame, SP
	MOVQ	SP, R8
	MOVQ	AX, 0(R8)
	MOVQ	BX, 8(R8)
	MOVQ	CX, 16(R8)
	LEAQ	planArgs(R8), DX
	MOVQ	DX, 24(R8)
	CALL	·plan(SB)
	MOVQ	SP, R8
	CMPB	32(R8), $0
	JEQ	runtime
	MOVQ	16(R8), DX             // envp
	XORQ	R15, R15               // the timer slack to restore, if set
	MOVQ	(planArgs+fastExec_argv)(R8), SI
	MOVQ	RKTRUN, AX
	CMPQ	AX, (SI)
	JNE	exec                   // argv[0] is not "rkt-run"
	CALL	slack<>(SB)
exec:
	LEAQ	(planArgs+fastExec_path)(R8), DI
	LEAQ	(planArgs+fastExec_argv)(R8), SI
	MOVL	$SYS_execve, AX
	SYSCALL
	// Only a failed execve returns: Main tries again and says why, with
	// the timer slack it was started with.
	TESTQ	R15, R15
	JEQ	runtime
	MOVL	$PR_SET_TIMERSLACK, DI
	MOVQ	R15, SI
	XORL	DX, DX
	XORL	R10, R10
	XORL	R8, R8
	MOVL	$SYS_prctl, AX
	SYSCALL
runtime:
	ADDQ	$entryFrame, SP
	JMP	_rt0_amd64_linux(SB)

// slack: for `rkt run`, the environment DX (envp) with RKT_TIMER_SLACK=
// the current timer slack in place of any such variable, in fastEnv,
// and the timer slack fastTimerSlack; R15 the slack to restore. DX is
// left as it was when anything goes wrong. R8 is kept.
TEXT slack<>(SB), NOSPLIT|NOFRAME, $0-0
	MOVQ	DX, R12                // the kernel's envp
	MOVQ	R8, R13
	MOVL	$PR_GET_TIMERSLACK, DI
	XORL	SI, SI
	XORL	DX, DX
	XORL	R10, R10
	XORL	R8, R8
	MOVL	$SYS_prctl, AX
	SYSCALL
	MOVQ	R13, R8
	MOVQ	R12, DX
	TESTQ	AX, AX
	JLE	slackDone              // an error, or no slack to speak of
	MOVQ	AX, R14                // the slack
	// RKT_TIMER_SLACK= then the digits, in fastSlackEnv.
	LEAQ	·fastSlackEnv(SB), DI
	LEAQ	slackName<>(SB), SI
	MOVQ	0(SI), AX
	MOVQ	AX, 0(DI)
	MOVQ	8(SI), AX
	MOVQ	AX, 8(DI)
	LEAQ	39(DI), R9             // digits from the end, backwards
	MOVB	$0, (R9)
	MOVQ	R14, AX
	MOVL	$10, CX
digit:
	XORL	DX, DX
	DIVQ	CX
	ADDB	$'0', DL
	DECQ	R9
	MOVB	DL, (R9)
	TESTQ	AX, AX
	JNE	digit
	LEAQ	slackNameLen(DI), R10  // move them up behind the name
move:
	MOVBLZX	(R9), AX
	MOVB	AL, (R10)
	INCQ	R9
	INCQ	R10
	TESTB	AL, AL
	JNE	move
	// The environment without RKT_TIMER_SLACK=, then it.
	MOVQ	R12, SI
	LEAQ	·fastEnv(SB), BX
	XORL	CX, CX
envVar:
	MOVQ	(SI), DI
	TESTQ	DI, DI
	JEQ	envDone
	ADDQ	$8, SI
	LEAQ	slackName<>(SB), R10
	MOVQ	$slackNameLen, R11
cmp:
	MOVBLZX	(R10), AX
	CMPB	AL, (DI)
	JNE	keepVar
	INCQ	R10
	INCQ	DI
	DECQ	R11
	JNE	cmp
	JMP	envVar                 // RKT_TIMER_SLACK= already: replaced
keepVar:
	CMPQ	CX, $const_fastMaxEnv
	JGE	slackDone12            // too many: as other commands
	MOVQ	-8(SI), AX
	MOVQ	AX, (BX)(CX*8)
	INCQ	CX
	JMP	envVar
envDone:
	LEAQ	·fastSlackEnv(SB), AX
	MOVQ	AX, (BX)(CX*8)
	MOVQ	$0, 8(BX)(CX*8)
	MOVL	$PR_SET_TIMERSLACK, DI
	MOVQ	$const_fastTimerSlack, SI
	XORL	DX, DX
	XORL	R10, R10
	MOVQ	R8, R13
	XORL	R8, R8
	MOVL	$SYS_prctl, AX
	SYSCALL
	MOVQ	R13, R8
	TESTQ	AX, AX
	JNE	slackDone12
	MOVQ	R14, R15
	LEAQ	·fastEnv(SB), DX
	RET
slackDone12:
	MOVQ	R12, DX
slackDone:
	RET

// func plan(argc int, argv, envp unsafe.Pointer, out *fastExec) bool
//
// Registers: R9 argv, R11 out, R12 the index of the argument being read
// (then of the subcommand), R13 the last --exec-path value (0 if none),
// R10 the binary's name, R8 its argv[0]; the rest are scratch.
TEXT ·plan(SB), NOSPLIT, $0-33
	MOVQ	argv+8(FP), R9
	MOVQ	out+24(FP), R11
	XORQ	R13, R13
	MOVQ	$1, R12
	MOVQ	argc+0(FP), AX
	CMPQ	AX, $(fastExec__size-fastExec_argv)/8
	JGT	no                     // argv would not fit, with its nil
	CMPQ	AX, $2
	JLT	no                     // no subcommand

flag:
	CMPQ	R12, argc+0(FP)
	JGE	no                     // only flags: Main prints the usage
	MOVQ	(R9)(R12*8), SI
	CMPB	(SI), $'-'
	JNE	subcommand             // "" too
	MOVBLZX	1(SI), AX
	TESTB	AL, AL
	JZ	subcommand             // "-" is an argument
	CMPB	AL, $'-'
	JNE	no                     // -h, other short flags
	CMPB	2(SI), $0
	JEQ	no                     // "--"
	ADDQ	$2, SI
	MOVQ	SI, R10                // the flag's name, up to '=' or the end
	MOVQ	·fastFlags(SB), DI
flagEntry:
	MOVBLZX	(DI), R8               // kind, or 0 at the end of the table
	TESTB	R8B, R8B
	JZ	no                     // unknown here: --help, --version, typos
	INCQ	DI
	MOVQ	R10, SI
	MOVL	$'=', DX
	CALL	match<>(SB)
	TESTQ	AX, AX
	JZ	flagEntry
	INCQ	R12
	CMPB	R8B, $'B'
	JNE	flagValue
	CMPB	(BX), $0
	JNE	no                     // --bool=VALUE: pflag parses VALUE
	JMP	flag
flagValue:
	CMPB	(BX), $'='
	JNE	nextArgValue
	LEAQ	1(BX), SI
	JMP	value
nextArgValue:
	CMPQ	R12, argc+0(FP)
	JGE	no                     // missing value: pflag fails
	MOVQ	(R9)(R12*8), SI
	INCQ	R12
value:
	CMPB	R8B, $'E'
	JNE	notExecPath
	MOVQ	SI, R13                // the last one counts, as in pflag
	JMP	flag
notExecPath:
	CMPB	R8B, $'I'
	JNE	flag                   // any string will do
word:
	// SI: a word of a comma-separated --insecure-options list.
	MOVQ	·fastWords(SB), DI
wordEntry:
	CMPB	(DI), $0
	JEQ	no                     // unknown, empty, upper case, spaces
	MOVL	$',', DX
	CALL	match<>(SB)
	TESTQ	AX, AX
	JZ	wordEntry
	CMPB	(BX), $0
	JEQ	flag
	LEAQ	1(BX), SI
	JMP	word

subcommand:
	// SI: the subcommand's name. Entries: name, binary, argv[0].
	MOVQ	·fastSubs(SB), DI
subEntry:
	CMPB	(DI), $0
	JEQ	no                     // a prefix, help, version, unknown
	XORL	DX, DX
	CALL	match<>(SB)
	MOVQ	DI, R10
	CALL	skip<>(SB)
	MOVQ	DI, R8
	CALL	skip<>(SB)
	TESTQ	AX, AX
	JZ	subEntry

	// The path: exec dir, '/', binary, NUL, in out.path (DX: its last
	// byte, kept for the NUL).
	TESTQ	R13, R13
	JZ	env
	CMPB	(R13), $0
	JEQ	env                    // --exec-path= is no --exec-path
	MOVQ	R13, SI
	JMP	dir
env:
	// The first RKT_EXEC_PATH=... entry decides, as in os.Getenv.
	MOVQ	envp+16(FP), R13
envEntry:
	MOVQ	(R13), SI
	TESTQ	SI, SI
	JZ	builtin
	ADDQ	$8, R13
	MOVQ	·fastEnvKey(SB), DI
	MOVL	$'=', DX
	CALL	match<>(SB)
	TESTQ	AX, AX
	JZ	envEntry
	CMPB	(BX), $'='
	JNE	envEntry               // no '=': not a variable
	LEAQ	1(BX), SI
	CMPB	(SI), $0
	JNE	dir
builtin:
	MOVQ	·fastExecDir(SB), AX
	MOVQ	0(AX), SI
	MOVQ	8(AX), CX
	TESTQ	CX, CX
	JZ	no
	LEAQ	fastExec_path(R11), DI
	LEAQ	(fastExec_path+4095)(R11), DX
	CALL	copy<>(SB)
	TESTQ	AX, AX
	JZ	no
	TESTQ	CX, CX
	JNZ	no                     // a NUL inside: Main's execve refuses it
	JMP	dirCopied
dir:
	LEAQ	fastExec_path(R11), DI
	LEAQ	(fastExec_path+4095)(R11), DX
	MOVQ	$-1, CX
	CALL	copy<>(SB)
	TESTQ	AX, AX
	JZ	no
dirCopied:
	LEAQ	fastExec_path(R11), SI
	CALL	dotdot<>(SB)
	TESTQ	AX, AX
	JNZ	no
	CMPQ	DI, DX
	JGE	no
	MOVB	$'/', (DI)
	INCQ	DI
	MOVQ	R10, SI
	MOVQ	$-1, CX
	CALL	copy<>(SB)
	TESTQ	AX, AX
	JZ	no
	MOVB	$0, (DI)

	// argv: argv[0], the global flags as given, the subcommand's own.
	LEAQ	fastExec_argv(R11), DI
	MOVQ	R8, (DI)
	ADDQ	$8, DI
	MOVQ	$1, CX
globals:
	CMPQ	CX, R12
	JGE	rest
	MOVQ	(R9)(CX*8), AX
	MOVQ	AX, (DI)
	ADDQ	$8, DI
	INCQ	CX
	JMP	globals
rest:
	INCQ	CX
	CMPQ	CX, argc+0(FP)
	JGE	done
	MOVQ	(R9)(CX*8), AX
	MOVQ	AX, (DI)
	ADDQ	$8, DI
	JMP	rest
done:
	MOVQ	$0, (DI)
	MOVB	$1, ret+32(FP)
	RET
no:
	MOVB	$0, ret+32(FP)
	RET

// match compares the string at SI, which ends at a NUL or at the byte
// in DL (none if 0), with the NUL-terminated string at DI. AX = 1 if
// they are equal, and then BX points at the end of SI's string. DI is
// left past DI's NUL either way; SI is kept. Clobbers CX.
TEXT match<>(SB), NOSPLIT|NOFRAME, $0
	MOVQ	SI, BX
matchByte:
	MOVBLZX	(DI), CX
	TESTB	CL, CL
	JZ	matchEnd
	CMPB	CL, (BX)
	JNE	matchSkip
	INCQ	DI
	INCQ	BX
	JMP	matchByte
matchEnd:
	INCQ	DI
	MOVBLZX	(BX), CX
	TESTB	CL, CL
	JZ	matchYes
	TESTB	DL, DL
	JZ	matchNo
	CMPB	CL, DL
	JEQ	matchYes
matchNo:
	XORL	AX, AX
	RET
matchSkip:
	MOVBLZX	(DI), CX
	INCQ	DI
	TESTB	CL, CL
	JNZ	matchSkip
	XORL	AX, AX
	RET
matchYes:
	MOVL	$1, AX
	RET

// skip moves DI past the next NUL. Clobbers CX.
TEXT skip<>(SB), NOSPLIT|NOFRAME, $0
skipByte:
	MOVBLZX	(DI), CX
	INCQ	DI
	TESTB	CL, CL
	JNZ	skipByte
	RET

// copy copies bytes from SI to DI until a NUL or CX bytes, whichever
// comes first, leaving DI past the last byte written. AX = 0 if the
// bytes did not fit below DX. Clobbers BX, CX, SI.
TEXT copy<>(SB), NOSPLIT|NOFRAME, $0
copyByte:
	TESTQ	CX, CX
	JZ	copyDone
	MOVBLZX	(SI), BX
	TESTB	BL, BL
	JZ	copyDone
	CMPQ	DI, DX
	JGE	copyFull
	MOVB	BL, (DI)
	INCQ	SI
	INCQ	DI
	DECQ	CX
	JMP	copyByte
copyDone:
	MOVL	$1, AX
	RET
copyFull:
	XORL	AX, AX
	RET

// dotdot reports in AX whether the path from SI to DI (exclusive) has a
// ".." component. Clobbers BX, CX, SI.
TEXT dotdot<>(SB), NOSPLIT|NOFRAME, $0
	MOVQ	SI, BX                 // the component's start
dotdotByte:
	CMPQ	SI, DI
	JGE	dotdotLast
	CMPB	(SI), $'/'
	JNE	dotdotNext
	MOVQ	SI, CX
	SUBQ	BX, CX
	CMPQ	CX, $2
	JNE	dotdotStart
	CMPW	(BX), $0x2e2e
	JEQ	dotdotYes
dotdotStart:
	LEAQ	1(SI), BX
dotdotNext:
	INCQ	SI
	JMP	dotdotByte
dotdotLast:
	MOVQ	SI, CX
	SUBQ	BX, CX
	CMPQ	CX, $2
	JNE	dotdotNo
	CMPW	(BX), $0x2e2e
	JEQ	dotdotYes
dotdotNo:
	XORL	AX, AX
	RET
dotdotYes:
	MOVL	$1, AX
	RET
