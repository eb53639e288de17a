namespace Dfd.Core;

/// <summary>
/// Base of Dfd's own errors about input a user can fix (a file that is not what it claims, an encoder that is not
/// available, a training run that diverged). The message is one line naming the file and the problem, so a front end
/// can print it as it is and catch this one type instead of each kind.
/// </summary>
public class DfdException(string message) : Exception(message);
