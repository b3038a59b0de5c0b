# The worker trampoline (docs/design.md §3): a static x86-64 Linux program of
# a few hundred bytes that the master forks and execs instead of a second copy
# of its own binary. It writes its own pid into the placeholders of env[0]
# and, if its value is a placeholder too, env[1] (LISTEN_PID=.......... and
# WATCHDOG_PID=..........), then execs argv[0] with argv[1:] and the
# patched environment in the same process. No libc, no runtime: the cost
# is one exec of a tiny file.
#
# Build (make trampoline): as --64 -o t.o trampoline_amd64.S &&
#   ld -static -n -s --build-id=none -o trampoline_amd64 t.o
# and launch/trampoline_amd64.go embeds the result.

	.intel_syntax noprefix
	.globl _start
	.text
_start:
	mov rbx, rsp                  # [rsp] = argc, then argv, NULL, envp, NULL
	mov eax, 39                   # getpid
	syscall
	mov r12, rax
	mov rcx, [rbx]
	lea r13, [rbx+8]              # argv
	lea r14, [r13+rcx*8+8]        # envp
	xor r15d, r15d                # which env entry
next_env:
	cmp r15, 2
	jae run
	mov rdi, [r14+r15*8]
	test rdi, rdi
	jz run
	inc r15
find_eq:
	mov al, [rdi]
	inc rdi
	test al, al
	jz run
	cmp al, '='
	jne find_eq
	cmp byte ptr [rdi], '.'       # not a placeholder: leave it and the rest
	jne run
	mov rax, r12                  # the pid's digits, backwards, below the stack
	lea rsi, [rbx-1]
	mov byte ptr [rsi], 0
	mov r8d, 10
digits:
	xor edx, edx
	div r8
	add dl, '0'
	dec rsi
	mov [rsi], dl
	test rax, rax
	jnz digits
copy:                             # over the placeholder, with the NUL
	mov al, [rsi]
	mov [rdi], al
	inc rsi
	inc rdi
	test al, al
	jnz copy
	jmp next_env
run:
	mov rdi, [r13]                # path
	lea rsi, [r13+8]              # argv[1:]
	mov rdx, r14
	mov eax, 59                   # execve
	syscall
	mov edi, 2                    # only on failure
	lea rsi, [rip+failed]
	mov edx, OFFSET failed_len
	mov eax, 1                    # write
	syscall
	mov edi, 127
	mov eax, 60                   # exit
	syscall
failed:
	.ascii "clusterd: the worker command could not be executed\n"
	.set failed_len, . - failed
