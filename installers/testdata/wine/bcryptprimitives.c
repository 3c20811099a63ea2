/*
 * bcryptprimitives.dll for Debian 12's wine 8.0, which lacks it. Go's
 * Windows runtime (since Go 1.22) gets random bytes from its ProcessPrng;
 * every Windows the SDK supports (10, Server 2016 and later) has it. The
 * wine test builds this with x86_64-w64-mingw32-gcc into its throwaway
 * prefix only: ProcessPrng on top of advapi32's RtlGenRandom, which wine has.
 */
#include <windows.h>
#include <ntsecapi.h>

__declspec(dllexport) BOOL WINAPI ProcessPrng(PBYTE data, SIZE_T n)
{
	while (n > 0) {
		ULONG chunk = n > 0x10000000 ? 0x10000000 : (ULONG)n;
		if (!RtlGenRandom(data, chunk))
			return FALSE;
		data += chunk;
		n -= chunk;
	}
	return TRUE;
}
