// tramp's entry: see main.go. The kernel leaves argc at 0(SP), argv from
// 8(SP), a nil pointer, then the environment.

#include "textflag.h"

#define SYS_execve 59
#define SYS_exit_group 231

// func entry()
TEXT ·entry(SB),NOSPLIT|NOFRAME,$0
	MOVQ	0(SP), AX           // argc
	LEAQ	16(SP), SI          // &argv[1]
	LEAQ	16(SP)(AX*8), DX    // envp: &argv[argc+1]
	MOVQ	0(SI), DI           // argv[1], nil without one: execve fails
	MOVQ	$SYS_execve, AX
	SYSCALL
	MOVQ	$127, DI
	MOVQ	$SYS_exit_group, AX
	SYSCALL
	RET
