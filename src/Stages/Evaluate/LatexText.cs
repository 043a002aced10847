namespace IwSft.Stages.Evaluate;

/// <summary>Small brace-aware helpers for LaTeX answer strings.</summary>
internal static class LatexText
{
    /// <summary>
    /// Index just past the brace group that opens at <paramref name="open"/> (which must be '{'),
    /// or -1 when the group is never closed. Escaped braces (\{ \}) do not count.
    /// </summary>
    public static int SkipGroup(string s, int open)
    {
        int depth = 0;
        for (int i = open; i < s.Length; i++)
        {
            char c = s[i];
            if (c == '\\' && i + 1 < s.Length && (s[i + 1] == '{' || s[i + 1] == '}')) { i++; continue; }
            if (c == '{') depth++;
            else if (c == '}' && --depth == 0) return i + 1;
        }
        return -1;
    }

    /// <summary>
    /// The argument of a command starting at <paramref name="at"/>: a brace group's content, or a
    /// single character (TeX's undelimited argument: \frac12, \sqrt2). Spaces before it are skipped.
    /// Returns the content and the index after the argument, or null when there is none.
    /// </summary>
    public static (string Content, int End)? ReadArgument(string s, int at)
    {
        int i = at;
        while (i < s.Length && s[i] == ' ') i++;
        if (i >= s.Length) return null;
        if (s[i] == '{')
        {
            int end = SkipGroup(s, i);
            return end < 0 ? null : (s.Substring(i + 1, end - i - 2), end);
        }
        if (s[i] == '\\')
        {
            // A command as a single argument (\frac\pi2): its letters form one token.
            int j = i + 1;
            while (j < s.Length && char.IsAsciiLetter(s[j])) j++;
            if (j == i + 1 && j < s.Length) j++;
            return (s[i..j], j);
        }
        if (s[i] == '}' || s[i] == '^' || s[i] == '_') return null;
        return (s[i].ToString(), i + 1);
    }

    /// <summary>Splits at commas that are not inside (), [], {}.</summary>
    public static List<string> SplitTopLevel(string s, char separator = ',')
    {
        var parts = new List<string>();
        int depth = 0, start = 0;
        for (int i = 0; i < s.Length; i++)
        {
            char c = s[i];
            if (c == '\\' && i + 1 < s.Length && "{}".Contains(s[i + 1])) { i++; continue; }
            if (c is '(' or '[' or '{') depth++;
            else if (c is ')' or ']' or '}') depth--;
            else if (c == separator && depth == 0) { parts.Add(s[start..i]); start = i + 1; }
        }
        parts.Add(s[start..]);
        return parts;
    }

    /// <summary>True when the first char opens a bracket that is closed by the last char (not earlier).</summary>
    public static bool IsWrappedBy(string s, char open, char close)
    {
        if (s.Length < 2 || s[0] != open || s[^1] != close) return false;
        int depth = 0;
        for (int i = 0; i < s.Length; i++)
        {
            if (s[i] is '(' or '[' or '{') depth++;
            else if (s[i] is ')' or ']' or '}') depth--;
            if (depth == 0 && i < s.Length - 1) return false;
        }
        return depth == 0;
    }
}
