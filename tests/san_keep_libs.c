/* san_keep_libs.c: linked into the sanitizer builds only (`make debug`,
 * `make test-sanitize`; the Makefile's SAN_OBJ), never into a release.
 *
 * Why: vkDestroyInstance makes the Vulkan loader dlclose() the driver
 * (Mesa's llvmpipe) and the layers. llvmpipe keeps one-time allocations
 * (LLVM's initialisation, under pthread_once in vkEnumeratePhysicalDevices)
 * reachable only from its own globals; once the library is unmapped,
 * LeakSanitizer can neither see those pointers nor name the module, and it
 * reports "Direct leak ... (<unknown module>)" at exit, a report that no
 * suppression can match (they match module, function or file names).
 *
 * Defining dlclose in the executable interposes the C library's for every
 * library in the process: shared libraries then stay mapped until exit, so
 * LeakSanitizer scans their globals and symbolizes their frames. Leaks in
 * our own code are still reported exactly as before (keeping a library
 * mapped only adds roots inside that library).
 */
#include <dlfcn.h>

int dlclose(void *handle)
{
    (void)handle;
    return 0;
}
