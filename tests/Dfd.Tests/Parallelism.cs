using Xunit;

// Test classes run one after another. libtorch has one random generator per process, so a class drawing random numbers
// between another's torch.manual_seed and its decoder's initialisation breaks the bit-for-bit resume and warm-start
// tests; and with classes in parallel a run of the suite once failed a dlib-resnet forward with a libtorch error
// ("toFloat ... Expected false to be true") that no conv or multiply raises: another thread's error. Each class
// already uses both cores through libtorch's own threads, so running them side by side saves little.
[assembly: CollectionBehavior(DisableTestParallelization = true)]
