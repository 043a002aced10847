using IwSft.Pipelines.Demo;

namespace IwSft.Pipelines.Tests;

public class DemoTaskTests
{
    static readonly ArithmeticProblem Example = new("Ana", "pens", 12,
        [new(true, "got", 5), new(false, "lost", 3), new(true, "found", 8)]);

    [Fact]
    public void Example_problem_renders_question_solution_and_answer()
    {
        Assert.Equal("Ana had 12 pens, got 5, lost 3, found 8. Pens now?", Example.Question);
        Assert.Equal(22, Example.Answer); // 12 + 5 − 3 + 8
        Assert.Equal("12+5=17, 17-3=14, 14+8=22.\nAnswer: 22", Example.CarefulSolution);
        Assert.Equal(Example.Question, ArithmeticTask.Parse(Example.Question)!.Question);
    }

    [Fact]
    public void Questions_have_twelve_words_and_every_8gram_holds_the_item()
    {
        foreach (var split in new[] { DemoSplit.Train, DemoSplit.Eval })
            foreach (var p in ArithmeticTask.Generate(split, 300, seed: 7))
            {
                // s1's normalisation: lowercase, whitespace-split, punctuation kept.
                var words = p.Question.ToLowerInvariant().Split(' ');
                Assert.Equal(12, words.Length);
                for (int start = 0; start + 8 <= words.Length; start++)
                    Assert.Contains(words.Skip(start).Take(8), w => w == p.Item || w == p.Item + ",");
            }
    }

    [Fact]
    public void Train_and_eval_item_vocabularies_are_disjoint()
    {
        Assert.Empty(ArithmeticTask.TrainItems.Intersect(ArithmeticTask.EvalItems));
        Assert.All(ArithmeticTask.Generate(DemoSplit.Eval, 200, 3), p => Assert.Contains(p.Item, ArithmeticTask.EvalItems));
        Assert.All(ArithmeticTask.Generate(DemoSplit.Train, 200, 3), p => Assert.Contains(p.Item, ArithmeticTask.TrainItems));
    }

    [Fact]
    public void Generation_is_deterministic_distinct_and_never_negative()
    {
        var a = ArithmeticTask.Generate(DemoSplit.Train, 500, seed: 11);
        var b = ArithmeticTask.Generate(DemoSplit.Train, 500, seed: 11);
        Assert.Equal(a.Select(p => p.Question), b.Select(p => p.Question));
        Assert.Equal(500, a.Select(p => p.Question).Distinct().Count());
        Assert.All(a, p => Assert.All(p.RunningValues(), v => Assert.True(v >= 0)));
        Assert.NotEqual(a.Select(p => p.Question), ArithmeticTask.Generate(DemoSplit.Train, 500, seed: 12).Select(p => p.Question));
    }

    [Fact]
    public void Every_careful_solution_verifies_with_full_confidence()
    {
        foreach (var p in ArithmeticTask.Generate(DemoSplit.Train, 1000, seed: 5))
        {
            var parsed = ArithmeticTask.Parse(p.Question)!;
            var verdict = Verifier.Verify(parsed, p.CarefulSolution);
            Assert.True(verdict.Correct, p.Question);
            Assert.Equal(ArithmeticTask.StepCount, verdict.VerifiedSteps);
            Assert.Equal(1.0, verdict.Confidence);
        }
    }

    [Fact]
    public void Verifier_grades_by_last_answer_and_checks_steps_in_order()
    {
        Assert.Equal(new Verdict(true, 22, true, 0), Verifier.Verify(Example, "Answer: 22"));
        Assert.Equal(0.5, Verifier.Verify(Example, "Answer: 22").Confidence);
        Assert.Equal(0.0, Verifier.Verify(Example, "Answer: 21").Confidence);
        Assert.False(Verifier.Verify(Example, "12+5=17, 17-3=14, 14+8=22.").AnswerFound);
        Assert.Equal(21, Verifier.FinalAnswer("Answer: 22 ... Answer: 21"));
        // A wrong middle step stops the check there: one verified step, then the answer still counts.
        var v = Verifier.Verify(Example, "12+5=17, 17-3=15, 15+8=22.\nAnswer: 22");
        Assert.Equal(1, v.VerifiedSteps);
        Assert.Equal(0.5 + 0.5 / 3, v.Confidence, 12);
    }

    [Fact]
    public void The_eval_grader_agrees_with_the_verifier_on_both_behaviours()
    {
        // The evaluate stage grades with the eval area's extractor (answer on its own line), not with the
        // demo verifier; both must read the same final answer from either behaviour's text.
        var grader = new IwSft.Stages.Evaluate.Grader();
        var mix = new BehaviourMixture();
        foreach (var p in ArithmeticTask.Generate(DemoSplit.Eval, 50, seed: 4))
            foreach (var completion in new[] { p.CarefulSolution, ArithmeticProblem.AnswerLine(p.Answer), ArithmeticProblem.AnswerLine(mix.ShortcutAnswer(p, 0.99, 0.1)) })
            {
                var grade = grader.Grade(completion, p.Answer.ToString(System.Globalization.CultureInfo.InvariantCulture), null);
                Assert.Equal(Verifier.Verify(p, completion).Correct, grade.Correct);
                Assert.Equal(IwSft.Stages.Evaluate.AnswerSource.AnswerLine, grade.Source);
            }
    }

    [Fact]
    public void Shortcut_is_right_for_exactly_the_configured_share_of_uniform_draws()
    {
        // Construction check: over an equispaced grid of draws, the right-answer share is p exactly,
        // and every other answer is a non-negative wrong one.
        var mix = new BehaviourMixture(CarefulWeight: 0.5, ShortcutCorrectProbability: 0.3);
        var problems = ArithmeticTask.Generate(DemoSplit.Train, 20, seed: 1).Append(
            new ArithmeticProblem("Ben", "cups", 1, [new(false, "lost", 1), new(true, "got", 1), new(false, "gave", 1)]));
        const int grid = 1000;
        foreach (var p in problems)
        {
            int right = 0;
            for (int i = 0; i < grid; i++)
            {
                double u = (i + 0.5) / grid;
                int answer = mix.ShortcutAnswer(p, u, offsetDraw: u);
                if (answer == p.Answer) right++;
                else Assert.True(answer >= 0 && Math.Abs(answer - p.Answer) is >= 1 and <= 3, $"{p.Question}: {answer}");
            }
            Assert.Equal(300, right);
        }
    }

    [Fact]
    public void Behaviour_split_follows_careful_weight_and_careful_is_always_right()
    {
        var mix = new BehaviourMixture(CarefulWeight: 0.25, ShortcutCorrectProbability: 0.3);
        int careful = Enumerable.Range(0, 1000).Count(i => mix.BehaviourFor((i + 0.5) / 1000) == Behaviour.Careful);
        Assert.Equal(250, careful);
        var d = mix.Demonstrate(Example, behaviourDraw: 0.1, correctDraw: 0.99, offsetDraw: 0.0);
        Assert.Equal(new Demonstration(Behaviour.Careful, Example.CarefulSolution, true), d);
        var s = mix.Demonstrate(Example, behaviourDraw: 0.9, correctDraw: 0.99, offsetDraw: 0.0);
        Assert.Equal(new Demonstration(Behaviour.Shortcut, "Answer: 19", false), s); // 22 + (−3)
        Assert.Equal(0.25 + 0.75 * 0.3, mix.ExpectedAccuracy, 12);
    }

    [Fact]
    public void Invalid_mixture_is_rejected()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => new BehaviourMixture(1.5, 0.3).Validate());
        Assert.Throws<ArgumentOutOfRangeException>(() => new BehaviourMixture(0.5, -0.1).Validate());
    }
}
