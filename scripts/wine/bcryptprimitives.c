/* A stand-in for Windows' bcryptprimitives.dll, for running the Windows build's tests under
 * wine 8, whose own lacks ProcessPrng: Rust's standard library (1.78 and later) takes every
 * random byte (HashMap keys, among others) from it. Fills the buffer from RtlGenRandom
 * (advapi32's SystemFunction036), which wine has. Built by scripts/windows.sh with mingw; never
 * part of snowbridge. */
#include <windows.h>

BOOLEAN WINAPI SystemFunction036(PVOID buffer, ULONG length);

__declspec(dllexport) BOOL WINAPI ProcessPrng(PBYTE data, SIZE_T length)
{
    /* RtlGenRandom takes a ULONG length: fill larger buffers in pieces. */
    while (length > 0) {
        ULONG piece = length > 0x40000000 ? 0x40000000 : (ULONG)length;
        if (!SystemFunction036(data, piece))
            return FALSE;
        data += piece;
        length -= piece;
    }
    /* Windows' ProcessPrng always returns TRUE. */
    return TRUE;
}
